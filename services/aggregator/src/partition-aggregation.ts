// The aggregation of one input partition (a task): records update their pane, closed panes merge into
// every window containing them, windows are emitted when the watermark passes their end and revised by
// late records until it passes end + allowed lateness. Pure and synchronous; I/O lives in aggregator.ts.
import type { DnsEvent, FlowRecord, WindowAggregate, MeasureSummary, DistinctEstimate, TopKEntry } from "../../../lib/src/avro.js";
import type { Moments } from "../../../lib/src/welford.js";
import { DIMENSIONS, isTumbling, lastStartAtOrBefore, windowStartsFor, type DimensionName, type WindowSpec } from "./windows.js";
import { OVERFLOW } from "./key-table.js";
import { LINK_DESTINATION, LINK_DOMAIN, LINK_SOURCE } from "./bounds.js";
import { hashString32 } from "../../../lib/src/hash.js";
import { EMIT_DIRTY, type MomentsTable } from "./moments-table.js";
import { DnsSummary, FlowSummary, measureSummary } from "./summaries.js";
import { DIM_GLOBAL, DIM_INDEX, DIM_NODE, GLOBAL_KEY, WindowState, type KeyTablesByDim, type Stream } from "./window-state.js";

/** Key of the bucket that holds records whose key did not fit the dimension's bound. */
export const OTHER_KEY = "(other)";
const NXDOMAIN = 3;
const DIM_DOMAIN = DIM_INDEX.registered_domain;
const DIM_QNAME = DIM_INDEX.qname;
const DIM_SOURCE = DIM_INDEX.source;
const DIM_DESTINATION = DIM_INDEX.destination;
const DIM_FLOW = DIM_INDEX.flow;
/** Default of PartitionAggregation's logMinKeys (measured: in-place updates of a pane this small stay in cache). */
export const LOG_MIN_KEYS = 2048;

export interface AggregationSettings {
  readonly windows: readonly WindowSpec[];
  readonly paneMs: number;
  readonly allowedLatenessMs: number;
  /** Heavy hitters per window and dimension published (Kafka global row, Redis). */
  readonly topK: number;
  /** Link capacity for FlowStatistics.bandwidth_utilization; null reports raw bits/s. */
  readonly linkCapacityBps: number | null;
  /** Watermark = highest event time seen on the partition minus this. */
  readonly outOfOrdernessMs: number;
  /**
   * Per-key rows published per window and dimension (the heaviest keys); Infinity publishes every key.
   * Global and node rows are always published.
   */
  readonly keysPerEmission: (spec: WindowSpec) => number;
}

export interface TopKList {
  readonly dimension: DimensionName;
  /** "count" (records) or "bytes". */
  readonly by: "count" | "bytes";
  readonly entries: readonly TopKEntry[];
}

/** Everything one emission of one window of one partition produced. */
export interface WindowEmission {
  readonly task: string;
  readonly spec: WindowSpec;
  readonly start: number;
  readonly end: number;
  readonly revision: number;
  readonly final: boolean;
  readonly rows: WindowAggregate[];
  readonly topK: readonly TopKList[];
}

export interface DroppedLate {
  /** Records too late for every window of the spec, per spec name. */
  readonly bySpec: Map<string, number>;
}

export class PartitionAggregation {
  readonly panes = new Map<number, WindowState>();
  /** Open and retained windows, per spec name, by start. */
  readonly windows = new Map<string, Map<number, WindowState>>();
  /** Windows are closed up to here (moved by advance()). */
  watermark = -Infinity;
  /**
   * Highest event time ingested. Whether a record is late is judged against maxEventTime minus the
   * out-of-orderness as it stood before the record, a function of the record sequence alone, so a
   * replay decides exactly as the first run did, wherever the batches were cut.
   */
  maxEventTime = -Infinity;
  /** Records too late for a spec (after end + allowed lateness), since the last emission, per spec. */
  readonly lateSinceEmit = new Map<string, number>();
  lateTotal = 0;
  recordsTotal = 0;
  private readonly paneDims: readonly DimensionName[];
  /** Each spec's dimensions that this stream has (DNS has no flow key, flows no domain or name). */
  private readonly specDims = new Map<string, readonly DimensionName[]>();
  private readonly keys = new Int32Array(DIMENSIONS.length);
  private readonly hashes = new Uint32Array(DIMENSIONS.length);
  private readonly lastKeys: (string | null)[] = DIMENSIONS.map(() => null);
  /**
   * Dimensions the panes track: only their keys are interned (a key no pane retains would stay in its
   * table, and through its links hold its parents).
   */
  private readonly tracked: readonly boolean[];
  /** Panes track global and node rows: records update the node's, the global one is derived at close. */
  private readonly globalFromNodes: boolean;
  /** Whether the record's key of a dimension was looked up (its table's lastEntry is its entry) or cached. */
  private readonly looked = DIMENSIONS.map(() => false);
  /** Late records since the last advance(), per pane start: deltas for the retained windows. */
  readonly latePanes = new Map<number, WindowState>();
  private lastPane: WindowState | null = null;
  /** Keys per dimension of the last closed pane: the size hint of the next one. */
  private readonly paneSizes = DIMENSIONS.map(() => 16);
  /** Sequence number of the input batch being ingested (recorded by new panes for the replay point). */
  batchSeq = 0;

  constructor(
    readonly task: string,
    readonly stream: Stream,
    readonly settings: AggregationSettings,
    private readonly keyTables: KeyTablesByDim,
    /**
     * An open pane logs a dimension's records (WindowState's record log) when the previous pane held at
     * least this many of its keys; with fewer, in-place updates stay in cache. Tests set 0 or Infinity.
     */
    private readonly logMinKeys = LOG_MIN_KEYS,
  ) {
    const dims = new Set<DimensionName>();
    for (const w of settings.windows) {
      for (const d of streamDimensions(stream, w.dimensions)) dims.add(d);
      this.windows.set(w.name, new Map());
      this.specDims.set(w.name, streamDimensions(stream, w.dimensions));
    }
    this.paneDims = DIMENSIONS.filter((d) => dims.has(d));
    this.tracked = DIMENSIONS.map((d) => dims.has(d));
    this.globalFromNodes = dims.has("global") && dims.has("node");
  }

  ingestDns(ev: DnsEvent): void {
    const t = ev.event_time_us / 1000;
    const client = ev.is_response ? ev.dst_addr : ev.src_addr;
    const server = ev.is_response ? ev.src_addr : ev.dst_addr;
    this.recordsTotal++;
    // A dropped record interns nothing: its keys would stay in the tables unreferenced.
    const st = this.target(t);
    if (st === null) return;
    this.internKey(DIM_NODE, ev.node);
    this.internKey(DIM_QNAME, ev.qname);
    this.internDomain(ev.registered_domain, ev.qname);
    this.internKey(DIM_SOURCE, client);
    this.internKey(DIM_DESTINATION, server);
    const nx = ev.is_response && ev.rcode === NXDOMAIN;
    const rt = ev.response_time_us;
    const logging = st.logging;
    for (let d = this.globalFromNodes ? DIM_NODE : DIM_GLOBAL; d < DIMENSIONS.length; d++) {
      const table = st.tables[d];
      if (table == null) continue;
      const key = this.keys[d] ?? 0;
      if (logging && st.logged[d] === true) st.logKey(d, key);
      else {
        const slot = st.slot(d, key);
        if (rt === null) table.addCount(slot, nx);
        else table.addSample(slot, nx, rt, 1);
      }
      if (key === OVERFLOW) st.overflowFor(d).add(dnsKey(d, ev, client, server));
      if (d === DIM_GLOBAL || d === DIM_NODE) this.updateDnsSummary(st.summaryFor(d, key) as DnsSummary, ev, rt);
    }
    if (logging) st.logDns(rt, nx);
  }

  ingestFlow(f: FlowRecord): void {
    const t = f.last_seen_us / 1000;
    const flowKey = f.community_id ?? `${f.protocol} ${f.src_addr}:${f.src_port}>${f.dst_addr}:${f.dst_port}`;
    this.recordsTotal++;
    const st = this.target(t);
    if (st === null) return;
    this.internKey(DIM_NODE, f.node);
    this.internKey(DIM_FLOW, flowKey);
    this.internFlowAddresses(f.src_addr, f.dst_addr);
    const packets = f.packets_fwd + f.packets_rev;
    const mean = packets > 0 ? f.size_sum / packets : 0;
    const m2 = packets > 0 ? Math.max(0, f.size_sumsq - f.size_sum * mean) : 0;
    const rst = f.end_reason === "rst" || f.rst_count > 0;
    const logging = st.logging;
    for (let d = this.globalFromNodes ? DIM_NODE : DIM_GLOBAL; d < DIMENSIONS.length; d++) {
      const table = st.tables[d];
      if (table == null) continue;
      const key = this.keys[d] ?? 0;
      if (logging && st.logged[d] === true) st.logKey(d, key);
      else {
        const slot = st.slot(d, key);
        // The record carries no per-packet extremes: min and max are those of the flows' mean sizes.
        if (packets > 0) table.addGroup(slot, rst, packets, mean, m2, mean, mean);
        else table.addCount(slot, rst);
      }
      if (key === OVERFLOW) st.overflowFor(d).add(d === DIM_INDEX.flow ? flowKey : d === DIM_INDEX.source ? f.src_addr : d === DIM_INDEX.destination ? f.dst_addr : f.node);
      if (d === DIM_GLOBAL || d === DIM_NODE) this.updateFlowSummary(st.summaryFor(d, key) as FlowSummary, f, packets);
    }
    if (logging) st.logFlow(packets, mean, m2, rst);
  }

  /**
   * The state a record at time t updates: its pane while the pane is open; for a late record, the
   * pane's late delta, merged into every still-retained window containing t at the next advance().
   * Windows already past end + lateness do not take it: it is counted per spec, and as dropped when no
   * window of any spec takes it (then null is returned).
   */
  private target(t: number): WindowState | null {
    const paneStart = lastStartAtOrBefore(t, this.settings.paneMs);
    const paneEnd = paneStart + this.settings.paneMs;
    const wm = Math.max(this.watermark, this.maxEventTime - this.settings.outOfOrdernessMs);
    if (t > this.maxEventTime) this.maxEventTime = t;
    if (paneEnd > wm) {
      // Records come mostly in time order: the last pane is the likely one (a Map lookup by a
      // non-small-integer start costs more than the check).
      const last = this.lastPane;
      if (last !== null && last.start === paneStart) return last;
      let pane = this.panes.get(paneStart);
      if (pane === undefined) {
        pane = new WindowState(this.stream, paneStart, paneEnd, this.paneDims, this.keyTables, this.paneSizes, this.paneSizes.map((n) => n >= this.logMinKeys));
        pane.firstSeq = this.batchSeq;
        this.panes.set(paneStart, pane);
      }
      this.lastPane = pane;
      return pane;
    }
    let taken = false;
    for (const spec of this.settings.windows) {
      let specTakes = false;
      for (const start of windowStartsFor(spec, t)) if (start + spec.sizeMs + this.settings.allowedLatenessMs > wm) specTakes = true;
      if (specTakes) taken = true;
      else this.lateSinceEmit.set(spec.name, (this.lateSinceEmit.get(spec.name) ?? 0) + 1);
    }
    if (!taken) {
      this.lateTotal++;
      return null;
    }
    let delta = this.latePanes.get(paneStart);
    if (delta === undefined) {
      delta = new WindowState(this.stream, paneStart, paneEnd, this.paneDims, this.keyTables);
      this.latePanes.set(paneStart, delta);
    }
    return delta;
  }

  private dimsOf(spec: WindowSpec): readonly DimensionName[] {
    return this.specDims.get(spec.name) ?? [];
  }

  private internKey(dim: number, key: string): void {
    // Consecutive records often share a key (one node, a burst for one domain): skip the hash lookup.
    this.looked[dim] = false;
    if (this.lastKeys[dim] === key && this.keys[dim] !== OVERFLOW) return;
    const kt = this.keyTables[dim];
    if (kt == null) return;
    if (this.tracked[dim] !== true) return this.untracked(dim, key);
    this.keys[dim] = kt.intern(key);
    this.hashes[dim] = kt.lastHash;
    this.lastKeys[dim] = key;
    this.looked[dim] = true;
  }

  /** A key of a dimension no pane tracks: only its hash, for the distinct counts of the global and node keys. */
  private untracked(dim: number, key: string): void {
    this.keys[dim] = OVERFLOW;
    this.hashes[dim] = hashString32(key);
    this.lastKeys[dim] = null;
  }

  /**
   * The registered domain, from the query name's link when it applies (no lookup), else looked up and
   * linked. A link names the suffix of the query name of the linked length, so it is this record's
   * domain exactly when the domain is a suffix of the name of that length.
   */
  private internDomain(domain: string, qname: string): void {
    if (this.lastKeys[DIM_DOMAIN] === domain && this.keys[DIM_DOMAIN] !== OVERFLOW) return;
    const dt = this.keyTables[DIM_DOMAIN];
    if (dt == null) return;
    if (this.tracked[DIM_DOMAIN] !== true) return this.untracked(DIM_DOMAIN, domain);
    const qt = this.tracked[DIM_QNAME] === true ? this.keyTables[DIM_QNAME] : null;
    const qid = this.keys[DIM_QNAME] ?? OVERFLOW;
    let off = -1;
    if (qt != null && qid !== OVERFLOW && qname.endsWith(domain)) {
      off = this.looked[DIM_QNAME] ? qt.lastEntry : qt.entryOf(qid);
      if (qt.linkId(off, LINK_DOMAIN) >= 0) {
        if (qt.linkLength(off, LINK_DOMAIN) === domain.length) {
          this.keys[DIM_DOMAIN] = qt.linkId(off, LINK_DOMAIN);
          this.hashes[DIM_DOMAIN] = qt.linkHash(off, LINK_DOMAIN);
          this.lastKeys[DIM_DOMAIN] = domain;
          return;
        }
        off = -1;
      }
    }
    const id = dt.intern(domain);
    this.keys[DIM_DOMAIN] = id;
    this.hashes[DIM_DOMAIN] = dt.lastHash;
    this.lastKeys[DIM_DOMAIN] = domain;
    if (qt != null && off >= 0 && id !== OVERFLOW) qt.setLink(off, LINK_DOMAIN, id, dt.lastHash, domain.length);
  }

  /**
   * A flow's source and destination, from the flow key's links when they apply (no lookup), else looked
   * up and linked. A link applies when the addresses' hashes and lengths match the linked ones and the
   * two hashes differ: a flow key (a Community ID, or the 5-tuple text) names one unordered address
   * pair, and distinct hashes rule out the swapped orientation, so the linked ids are these addresses.
   */
  private internFlowAddresses(src: string, dst: string): void {
    const srcCached = this.lastKeys[DIM_SOURCE] === src && this.keys[DIM_SOURCE] !== OVERFLOW;
    const dstCached = this.lastKeys[DIM_DESTINATION] === dst && this.keys[DIM_DESTINATION] !== OVERFLOW;
    if (srcCached && dstCached) return;
    const st = this.keyTables[DIM_SOURCE];
    const dt = this.keyTables[DIM_DESTINATION];
    if (st == null || dt == null) return;
    const hs = hashString32(src);
    const hd = hashString32(dst);
    const ft = this.tracked[DIM_FLOW] === true ? this.keyTables[DIM_FLOW] : null;
    const fid = this.keys[DIM_FLOW] ?? OVERFLOW;
    let off = -1;
    if (ft != null && fid !== OVERFLOW && hs !== hd) {
      off = this.looked[DIM_FLOW] ? ft.lastEntry : ft.entryOf(fid);
      const ps = ft.linkId(off, LINK_SOURCE);
      if (ps >= 0) {
        if (ft.linkHash(off, LINK_SOURCE) === hs && ft.linkHash(off, LINK_DESTINATION) === hd && ft.linkLength(off, LINK_SOURCE) === src.length && ft.linkLength(off, LINK_DESTINATION) === dst.length) {
          this.keys[DIM_SOURCE] = ps;
          this.keys[DIM_DESTINATION] = ft.linkId(off, LINK_DESTINATION);
          this.hashes[DIM_SOURCE] = hs;
          this.hashes[DIM_DESTINATION] = hd;
          this.lastKeys[DIM_SOURCE] = src;
          this.lastKeys[DIM_DESTINATION] = dst;
          return;
        }
        off = -1;
      }
    }
    if (this.tracked[DIM_SOURCE] !== true) this.untracked(DIM_SOURCE, src);
    else if (!srcCached) {
      this.keys[DIM_SOURCE] = st.internHashed(src, hs);
      this.hashes[DIM_SOURCE] = hs;
      this.lastKeys[DIM_SOURCE] = src;
    }
    if (this.tracked[DIM_DESTINATION] !== true) this.untracked(DIM_DESTINATION, dst);
    else if (!dstCached) {
      this.keys[DIM_DESTINATION] = dt.internHashed(dst, hd);
      this.hashes[DIM_DESTINATION] = hd;
      this.lastKeys[DIM_DESTINATION] = dst;
    }
    const sid = this.keys[DIM_SOURCE] ?? OVERFLOW;
    const did = this.keys[DIM_DESTINATION] ?? OVERFLOW;
    if (ft != null && off >= 0 && sid !== OVERFLOW && did !== OVERFLOW) {
      ft.setLink(off, LINK_SOURCE, sid, hs, src.length);
      ft.setLink(off, LINK_DESTINATION, did, hd, dst.length);
    }
  }

  private updateDnsSummary(s: DnsSummary, ev: DnsEvent, rt: number | null): void {
    if (ev.is_response) s.responses++;
    if (rt !== null) s.responseTime.accept(Math.max(rt, 0));
    if (ev.query_size !== null) addMoment(s.querySize, ev.query_size);
    if (ev.response_size !== null) addMoment(s.responseSize, ev.response_size);
    addMoment(s.qnameLength, ev.qname.length);
    s.domains.addHash(this.hashes[DIM_INDEX.registered_domain] ?? 0);
    s.qnames.addHash(this.hashes[DIM_INDEX.qname] ?? 0);
    s.sources.addHash(this.hashes[DIM_INDEX.source] ?? 0);
    s.destinations.addHash(this.hashes[DIM_INDEX.destination] ?? 0);
  }

  private updateFlowSummary(s: FlowSummary, f: FlowRecord, packets: number): void {
    s.bytes += f.bytes_fwd + f.bytes_rev;
    s.addDuration(Math.max(0, (f.last_seen_us - f.first_seen_us) / 1000));
    if (packets > 1) s.addInterArrival(packets - 1, f.iat_sum_us, f.iat_sumsq_us2, f.iat_min_us ?? f.iat_sum_us / (packets - 1), f.iat_max_us ?? f.iat_sum_us / (packets - 1));
    s.flows.addHash(this.hashes[DIM_INDEX.flow] ?? 0);
    s.sources.addHash(this.hashes[DIM_INDEX.source] ?? 0);
    s.destinations.addHash(this.hashes[DIM_INDEX.destination] ?? 0);
  }

  /**
   * Moves the watermark to `watermark` (never back): merges late deltas into their retained windows,
   * closes panes, emits windows that ended and windows revised by late records, and drops windows past
   * their allowed lateness. Every closed pane and late delta is shown to `persist` before it is merged
   * away, so a changelog can rebuild the windows.
   */
  advance(watermark: number, emit: (e: WindowEmission) => void, persist?: (pane: WindowState, late: boolean) => void): void {
    // Windows dropped below may free key ids: the last-key cache must not outlive them; a closed pane
    // must not be found again.
    this.lastKeys.fill(null);
    this.lastPane = null;
    const deltas = [...this.latePanes.values()].sort((a, b) => a.start - b.start);
    this.latePanes.clear();
    for (const delta of deltas) {
      if (this.globalFromNodes) delta.deriveGlobalFromNodes();
      persist?.(delta, true);
      this.mergeIntoWindows(delta, false);
      delta.dispose();
    }
    if (watermark > this.watermark) this.watermark = watermark;
    const wm = this.watermark;
    const closing = [...this.panes.keys()].filter((s) => s + this.settings.paneMs <= wm).sort((a, b) => a - b);
    for (const start of closing) {
      const pane = this.panes.get(start);
      if (pane === undefined) continue;
      this.panes.delete(start);
      pane.seal();
      pane.tables.forEach((t, d) => {
        if (t != null) this.paneSizes[d] = Math.max(16, t.size);
      });
      if (this.globalFromNodes) pane.deriveGlobalFromNodes();
      persist?.(pane, false);
      this.mergeIntoWindows(pane, true);
    }
    for (const spec of this.settings.windows) {
      const open = this.windows.get(spec.name);
      if (open === undefined) continue;
      const starts = [...open.keys()].sort((a, b) => a - b);
      for (const start of starts) {
        const w = open.get(start);
        if (w === undefined || start + spec.sizeMs > wm) continue;
        const final = start + spec.sizeMs + this.settings.allowedLatenessMs <= wm;
        if (w.revision < 0 || w.emitDirty) emit(this.emission(spec, w, final));
        else if (final) emit(this.emission(spec, w, true, true));
        if (final) {
          open.delete(start);
          w.dispose();
        }
      }
    }
  }

  /** The smallest input batch sequence that an open pane holds records of (Infinity when none). */
  oldestOpenSeq(): number {
    let min = Infinity;
    for (const p of this.panes.values()) if (p.firstSeq < min) min = p.firstSeq;
    return min;
  }

  /** End of the pane holding time t: a replayed record whose pane ended before the restored watermark is already counted. */
  paneEnd(t: number): number {
    return lastStartAtOrBefore(t, this.settings.paneMs) + this.settings.paneMs;
  }

  /** The latest end of any window containing the pane at `start`: the pane's data is needed until then + lateness. */
  lastWindowEnd(paneStart: number): number {
    let end = -Infinity;
    for (const spec of this.settings.windows) end = Math.max(end, lastStartAtOrBefore(paneStart, spec.hopMs) + spec.sizeMs);
    return end;
  }

  /**
   * Rebuilds the retained windows from a changelog: closed panes and late deltas in the order they were
   * written, then the emitted revisions. Windows already final at the restored watermark are skipped.
   */
  restore(watermark: number, panes: readonly WindowState[], revisions: ReadonlyMap<string, number>): void {
    this.watermark = watermark;
    for (const p of panes) {
      this.mergeIntoWindows(p, false);
      p.dispose();
    }
    for (const [name, open] of this.windows) {
      for (const [start, w] of open) {
        w.revision = revisions.get(`${name}@${start}`) ?? -1;
        w.emitDirty = false;
        for (const t of w.tables) t?.clearMarks(EMIT_DIRTY);
      }
    }
  }

  /** Emitted revision of every retained window, for the changelog. */
  revisions(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, open] of this.windows) for (const [start, w] of open) if (w.revision >= 0) out.set(`${name}@${start}`, w.revision);
    return out;
  }

  /**
   * Merges a closed pane (or a late delta) into every retained window of every spec that contains it;
   * windows already past end + lateness are not recreated. A window exactly one pane long takes a
   * closed pane itself, without a copy.
   */
  private mergeIntoWindows(pane: WindowState, mayPromote: boolean): void {
    let promoted = false;
    for (const spec of this.settings.windows) {
      const open = this.windows.get(spec.name);
      if (open === undefined) continue;
      for (const start of windowStartsFor(spec, pane.start)) {
        const existing = open.get(start);
        if (existing === undefined && start + spec.sizeMs + this.settings.allowedLatenessMs <= this.watermark && !mayPromote) continue;
        if (existing === undefined && mayPromote && !promoted && isTumbling(spec) && spec.sizeMs === this.settings.paneMs) {
          pane.restrictTo(this.dimsOf(spec));
          pane.shrinkToFit();
          open.set(start, pane);
          promoted = true;
          continue;
        }
        let w = existing;
        if (w === undefined) {
          w = new WindowState(this.stream, start, start + spec.sizeMs, this.dimsOf(spec), this.keyTables);
          open.set(start, w);
        }
        w.mergeFrom(pane);
        if (w.revision >= 0) w.emitDirty = true;
      }
    }
    if (!promoted && mayPromote) pane.dispose();
  }

  /**
   * The rows of one emission: the first emission of a window carries every key; a revision only the
   * keys changed since. `finalOnly` re-emits just the global and node rows to mark the window final.
   */
  private emission(spec: WindowSpec, w: WindowState, final: boolean, finalOnly = false): WindowEmission {
    const first = w.revision < 0;
    w.revision++;
    const seconds = spec.sizeMs / 1000;
    const late = this.lateSinceEmit.get(spec.name) ?? 0;
    this.lateSinceEmit.set(spec.name, 0);
    const rows: WindowAggregate[] = [];
    const topK: TopKList[] = [];
    for (const dimName of this.dimsOf(spec)) {
      const d = DIM_INDEX[dimName];
      const table = w.tables[d];
      if (table == null) continue;
      const rich = d === DIM_GLOBAL || d === DIM_NODE;
      if (finalOnly && !rich) continue;
      const kt = this.keyTables[d];
      const limit = rich ? Infinity : this.settings.keysPerEmission(spec);
      const slots = limit >= table.size ? null : table.topSlots(limit, this.stream === "flow" ? "volume" : "count", Infinity);
      const n = slots === null ? table.size : slots.length;
      for (let i = 0; i < n; i++) {
        const s = slots === null ? i : (slots[i] ?? 0);
        if (!first && !finalOnly && !rich && ((table.marks[s] ?? 0) & EMIT_DIRTY) === 0) continue;
        const keyId = table.keyAt(s);
        const key = d === DIM_GLOBAL ? "" : keyId === OVERFLOW ? OTHER_KEY : (kt?.keyOf(keyId) ?? "");
        rows.push(this.row(spec, w, dimName, key, table, s, seconds, rich ? w.summaryFor(d, keyId) : null, final, d === DIM_GLOBAL ? late : 0));
      }
      table.clearMarks(EMIT_DIRTY);
      if (!rich && !finalOnly && this.settings.topK > 0) topK.push(this.topKList(w, d, dimName));
    }
    w.emitDirty = false;
    const global = rows.find((r) => r.dimension === "global");
    const primaryDim: DimensionName = this.stream === "dns" ? "registered_domain" : "source";
    // A final-only revision sends no top-k lists, but its global row replaces the last one for readers
    // that keep the highest revision (the Redis sink's totals), so it carries the primary list again.
    const primary = finalOnly ? this.primaryTopK(spec, w, primaryDim) : topK.find((l) => l.dimension === primaryDim);
    if (global !== undefined && primary !== undefined) {
      global.top_k_of = primary.by === "bytes" ? `${primary.dimension}_bytes` : primary.dimension;
      global.top_k = [...primary.entries];
    }
    return { task: this.task, spec, start: w.start, end: w.end, revision: w.revision, final, rows, topK };
  }

  private primaryTopK(spec: WindowSpec, w: WindowState, dimName: DimensionName): TopKList | undefined {
    const d = DIM_INDEX[dimName];
    return this.settings.topK > 0 && w.tables[d] != null && this.dimsOf(spec).includes(dimName) ? this.topKList(w, d, dimName) : undefined;
  }

  private topKList(w: WindowState, d: number, dimName: DimensionName): TopKList {
    const table = w.tables[d] as MomentsTable;
    const by = this.stream === "flow" ? "bytes" : "count";
    const kt = this.keyTables[d];
    const entries: TopKEntry[] = table.topSlots(this.settings.topK, by === "bytes" ? "volume" : "count", OVERFLOW).map((s) => ({
      key: kt?.keyOf(table.keyAt(s)) ?? "",
      count: Math.round(by === "bytes" ? table.nAt(s) * table.meanAt(s) : table.countAt(s)),
    }));
    // Heavy hitters among overflowed keys compete with the tracked ones (counts are upper bounds).
    const o = w.overflow[d];
    if (o != null && by === "count") {
      for (const h of o.top(this.settings.topK)) entries.push({ key: h.key, count: h.count });
      entries.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
      entries.length = Math.min(entries.length, this.settings.topK);
    }
    return { dimension: dimName, by, entries };
  }

  private row(spec: WindowSpec, w: WindowState, dimension: DimensionName, key: string, t: MomentsTable, s: number, seconds: number, summary: ReturnType<WindowState["summaryFor"]> | null, final: boolean, late: number): WindowAggregate {
    const count = t.countAt(s);
    const flagged = t.flaggedAt(s);
    const main: Moments = { n: t.nAt(s), mean: t.meanAt(s), m2: t.m2At(s), min: t.minAt(s), max: t.maxAt(s) };
    const p = count > 0 ? flagged / count : 0;
    const indicator: MeasureSummary = { name: this.stream === "dns" ? "nxdomain" : "rst", count, mean: p, variance: p * (1 - p), min: flagged === count && count > 0 ? 1 : 0, max: flagged > 0 ? 1 : 0, p50: null, p90: null, p99: null };
    const measures: MeasureSummary[] = [];
    const distinct: DistinctEstimate[] = [];
    let flowStats: WindowAggregate["flow_stats"] = null;
    if (summary instanceof DnsSummary) {
      measures.push(measureSummary("response_time_us", main, summary.responseTime), indicator);
      measures.push(measureSummary("query_size", summary.querySize, null), measureSummary("response_size", summary.responseSize, null), measureSummary("qname_length", summary.qnameLength, null));
      distinct.push(
        { name: "registered_domain", estimate: Math.round(summary.domains.estimate()) },
        { name: "qname", estimate: Math.round(summary.qnames.estimate()) },
        { name: "source", estimate: Math.round(summary.sources.estimate()) },
        { name: "destination", estimate: Math.round(summary.destinations.estimate()) },
      );
    } else if (summary instanceof FlowSummary) {
      measures.push(measureSummary("packet_size", main, null), indicator, measureSummary("flow_duration_ms", summary.duration, summary.durationSketch));
      distinct.push(
        { name: "flow", estimate: Math.round(summary.flows.estimate()) },
        { name: "source", estimate: Math.round(summary.sources.estimate()) },
        { name: "destination", estimate: Math.round(summary.destinations.estimate()) },
      );
      flowStats = summary.flowStatistics(main, seconds, this.settings.linkCapacityBps);
    } else {
      measures.push(measureSummary(this.stream === "dns" ? "response_time_us" : "packet_size", main, null), indicator);
    }
    return {
      window_start_ms: w.start,
      window_end_ms: w.end,
      size_ms: spec.sizeMs,
      hop_ms: spec.hopMs,
      kind: isTumbling(spec) ? "tumbling" : "hopping",
      dimension,
      key,
      stream: this.stream,
      count,
      rate_per_s: count / seconds,
      measures,
      distinct,
      top_k_of: null,
      top_k: [],
      flow_stats: flowStats,
      late_count: late,
      final,
      aggregator_instance: this.task,
      revision: w.revision,
    };
  }

  /** Drops all state (the partition was revoked); releases its keys. */
  dispose(): void {
    this.lastPane = null;
    for (const p of this.panes.values()) p.dispose();
    this.panes.clear();
    for (const p of this.latePanes.values()) p.dispose();
    this.latePanes.clear();
    for (const open of this.windows.values()) {
      for (const w of open.values()) w.dispose();
      open.clear();
    }
  }

  get byteSize(): number {
    let b = 0;
    for (const p of this.panes.values()) b += p.byteSize;
    for (const open of this.windows.values()) for (const w of open.values()) b += w.byteSize;
    return b;
  }
}

const STREAM_DIMENSIONS: Readonly<Record<Stream, readonly DimensionName[]>> = {
  dns: ["global", "node", "registered_domain", "qname", "source", "destination"],
  flow: ["global", "node", "source", "destination", "flow"],
};

export function streamDimensions(stream: Stream, dims: readonly DimensionName[]): DimensionName[] {
  return dims.filter((d) => STREAM_DIMENSIONS[stream].includes(d));
}

function addMoment(m: Moments, x: number): void {
  const n = m.n + 1;
  const delta = x - m.mean;
  m.mean += delta / n;
  m.m2 += delta * (x - m.mean);
  m.n = n;
  if (x < m.min) m.min = x;
  if (x > m.max) m.max = x;
}

function dnsKey(d: number, ev: DnsEvent, client: string, server: string): string {
  if (d === DIM_INDEX.registered_domain) return ev.registered_domain;
  if (d === DIM_INDEX.qname) return ev.qname;
  if (d === DIM_INDEX.source) return client;
  if (d === DIM_INDEX.destination) return server;
  return ev.node;
}

export { GLOBAL_KEY };
