// The state of one pane or window of one input partition: a MomentsTable per tracked dimension, the rich
// summaries of its global and node keys, and Space-Saving heavy hitters over keys that overflowed the
// key bounds. Panes and windows share this type so a closed pane merges into a window slot by slot.
//
// Record log of an open pane. Updating a key's slot in place costs an index probe and a record access
// per record and dimension, in tables of tens of thousands of keys that the key tables' own misses keep
// evicting (the largest part of ingestion, measured). An open pane instead appends, per record, the key
// id of each logged dimension and, once, the record's measure (sequential writes), and keeps a bitset per
// dimension of the ids it holds (one bit per id), retaining an id on its first record as a slot would.
// seal() builds the tables when the pane closes, one dimension at a time (that table is then all the
// cache holds) and in arrival order, so the slots, their order and each key's Welford sequence are
// exactly those of in-place updates. Global and node rows (a handful of keys) update in place.
import { SpaceSaving } from "../../../lib/src/space-saving.js";
import { DIMENSIONS, type DimensionName } from "./windows.js";
import { MomentsTable } from "./moments-table.js";
import { DnsSummary, FlowSummary, type Summary } from "./summaries.js";
import type { KeyTable } from "./key-table.js";

export type Stream = "dns" | "flow";
export const DIM_INDEX: Readonly<Record<DimensionName, number>> = Object.fromEntries(DIMENSIONS.map((d, i) => [d, i])) as Record<DimensionName, number>;
export const DIM_GLOBAL = 0;
export const DIM_NODE = 1;
/** Key id of the single global key. */
export const GLOBAL_KEY = 0;
/** Heavy hitters kept among keys that did not fit the key bound, per dimension and window. */
export const OVERFLOW_HEAVY_HITTERS = 64;

/** Open panes log the dimensions from this index on (domains, names, addresses, flows); global and node update in place. */
const FIRST_LOGGED_DIM = 2;
const LOG_INITIAL = 1024;
/** Keys of a closed pane whose window slots a merge reads ahead (a power of two). */
const TOUCH_AHEAD = 8;
const FLAGGED_BIT = 1;
const VALUE_BIT = 2;

/** Key tables by dimension index; null for the global dimension, whose only key is GLOBAL_KEY. */
export type KeyTablesByDim = readonly (KeyTable | null)[];

export class WindowState {
  readonly tables: (MomentsTable | null)[];
  global: Summary | null = null;
  readonly nodes = new Map<number, Summary>();
  readonly overflow: (SpaceSaving | null)[];
  /** For an open pane: sequence of the input batch of its first record (the replay point). */
  firstSeq = 0;
  /** -1 until first emitted; then the revision of the last emission. */
  revision = -1;
  /** Updated since the last emission (a late record) / since the last checkpoint. */
  emitDirty = false;
  snapshotDirty = true;
  /** Where mergeFrom() leaves what it read ahead, so the reads are not optimized away. */
  private touchSink = 0;
  /** Whether records go to the record log (an open pane) rather than the tables of the logged dimensions. */
  logging: boolean;
  /** Per dimension: whether its records go to the log (high-cardinality dimensions of an open pane). */
  readonly logged: readonly boolean[];
  /** Expected keys per dimension of the tables seal() builds. */
  private readonly sealHints: readonly number[];
  /** Records in the log. */
  private logN = 0;
  /** Per logged dimension: the key id of each record (null when the dimension is not logged). */
  private readonly logIds: (Int32Array | null)[];
  /** Per logged dimension: bit `id` set once the log holds id (the id was retained). */
  private readonly logSeen: (Uint32Array | null)[];
  /** Each record's measure: DNS response time; flow packets, mean size, M2 (three per record). */
  private logValues: Float64Array;
  /** Each record's FLAGGED_BIT (NXDOMAIN, reset) and VALUE_BIT (has a measure). */
  private logFlags: Uint8Array;

  constructor(
    readonly stream: Stream,
    readonly start: number,
    readonly end: number,
    dims: readonly DimensionName[],
    private readonly keyTables: KeyTablesByDim,
    /** Expected keys per dimension (the previous pane's), so a busy pane does not regrow a dozen times. */
    sizeHints?: readonly number[],
    /** For an open pane, the dimensions whose records go to the record log until seal() (FIRST_LOGGED_DIM on). */
    logDims?: readonly boolean[],
  ) {
    this.sealHints = sizeHints ?? [];
    this.logged = DIMENSIONS.map((d, i) => i >= FIRST_LOGGED_DIM && dims.includes(d) && logDims?.[i] === true);
    this.logging = this.logged.includes(true);
    this.tables = DIMENSIONS.map((d, i) => (dims.includes(d) ? new MomentsTable(this.logged[i] === true ? 4 : (sizeHints?.[i] ?? 16)) : null));
    this.overflow = DIMENSIONS.map(() => null);
    this.logIds = this.logged.map((l) => (l ? new Int32Array(LOG_INITIAL) : null));
    this.logSeen = this.logIds.map((ids) => (ids === null ? null : new Uint32Array(LOG_INITIAL)));
    this.logValues = new Float64Array(this.logging ? (stream === "dns" ? 1 : 3) * LOG_INITIAL : 0);
    this.logFlags = new Uint8Array(this.logging ? LOG_INITIAL : 0);
  }

  /**
   * Logs the key of the current record (the one the next logDns/logFlow ends) in logged dimension `dim`,
   * retaining the id on its first record in this pane.
   */
  logKey(dim: number, key: number): void {
    const n = this.logN;
    let ids = this.logIds[dim] as Int32Array;
    if (n === ids.length) ids = this.growLog(dim);
    ids[n] = key;
    if (key < 0) return;
    const w = key >>> 5;
    let seen = this.logSeen[dim] as Uint32Array;
    if (w >= seen.length) seen = this.growSeen(dim, w);
    const bit = 1 << (key & 31);
    const word = seen[w] ?? 0;
    if ((word & bit) !== 0) return;
    seen[w] = word | bit;
    this.keyTables[dim]?.retain(key);
  }

  /** Ends a DNS record in the log: its response time (null when none) and NXDOMAIN flag. */
  logDns(rt: number | null, flagged: boolean): void {
    const n = this.logN;
    if (n === this.logFlags.length) this.growValues();
    this.logFlags[n] = (flagged ? FLAGGED_BIT : 0) | (rt === null ? 0 : VALUE_BIT);
    this.logValues[n] = rt ?? 0;
    this.logN = n + 1;
  }

  /** Ends a flow record in the log: its packets with their mean size and M2, and reset flag. */
  logFlow(packets: number, mean: number, m2: number, flagged: boolean): void {
    const n = this.logN;
    if (n === this.logFlags.length) this.growValues();
    this.logFlags[n] = (flagged ? FLAGGED_BIT : 0) | (packets > 0 ? VALUE_BIT : 0);
    const v = this.logValues;
    v[3 * n] = packets;
    v[3 * n + 1] = mean;
    v[3 * n + 2] = m2;
    this.logN = n + 1;
  }

  /**
   * Builds the logged dimensions' tables from the record log and ends logging (the pane closed): one
   * dimension at a time, so the table being built is all the cache holds, and in arrival order, so slots
   * and each key's Welford sequence are those of in-place updates.
   */
  seal(): void {
    if (!this.logging) return;
    this.logging = false;
    const n = this.logN;
    const vals = this.logValues;
    const flags = this.logFlags;
    const flow = this.stream === "flow";
    for (let d = FIRST_LOGGED_DIM; d < this.tables.length; d++) {
      const ids = this.logIds[d];
      if (ids == null) continue;
      const table = new MomentsTable(this.sealHints[d] ?? 16);
      for (let i = 0; i < n; i++) {
        const slot = table.slotFor(ids[i] ?? 0);
        const f = flags[i] ?? 0;
        const flagged = (f & FLAGGED_BIT) !== 0;
        if ((f & VALUE_BIT) === 0) table.addCount(slot, flagged);
        else if (flow) {
          const mean = vals[3 * i + 1] ?? 0;
          // The record carries no per-packet extremes: min and max are those of the flows' mean sizes.
          table.addGroup(slot, flagged, vals[3 * i] ?? 0, mean, vals[3 * i + 2] ?? 0, mean, mean);
        } else table.addSample(slot, flagged, vals[i] ?? 0, 1);
      }
      this.tables[d] = table;
      this.logIds[d] = null;
      this.logSeen[d] = null;
    }
    this.logN = 0;
    this.logValues = new Float64Array(0);
    this.logFlags = new Uint8Array(0);
  }

  private growLog(dim: number): Int32Array {
    const old = this.logIds[dim] as Int32Array;
    const next = new Int32Array(old.length * 2);
    next.set(old);
    this.logIds[dim] = next;
    return next;
  }

  private growSeen(dim: number, word: number): Uint32Array {
    const old = this.logSeen[dim] as Uint32Array;
    let size = old.length * 2;
    while (size <= word) size *= 2;
    const next = new Uint32Array(size);
    next.set(old);
    this.logSeen[dim] = next;
    return next;
  }

  private growValues(): void {
    const flags = new Uint8Array(this.logFlags.length * 2);
    flags.set(this.logFlags);
    this.logFlags = flags;
    const values = new Float64Array(this.logValues.length * 2);
    values.set(this.logValues);
    this.logValues = values;
  }

  hasDim(dim: number): boolean {
    return this.tables[dim] != null;
  }

  /** The slot of key id `key` in dimension `dim`, retaining the key when it enters this window. */
  slot(dim: number, key: number): number {
    const t = this.tables[dim];
    if (t == null) return -1;
    const s = t.slotFor(key);
    if (t.isNew && key >= 0) this.keyTables[dim]?.retain(key);
    return s;
  }

  summaryFor(dim: number, key: number): Summary {
    if (dim === DIM_GLOBAL) {
      this.global ??= this.stream === "dns" ? new DnsSummary() : new FlowSummary();
      return this.global;
    }
    let s = this.nodes.get(key);
    if (s === undefined) {
      s = this.stream === "dns" ? new DnsSummary() : new FlowSummary();
      this.nodes.set(key, s);
    }
    return s;
  }

  overflowFor(dim: number): SpaceSaving {
    let o = this.overflow[dim];
    if (o == null) {
      o = new SpaceSaving(OVERFLOW_HEAVY_HITTERS);
      this.overflow[dim] = o;
    }
    return o;
  }

  /** Folds `pane` into this window for the dimensions this window tracks. */
  mergeFrom(pane: WindowState): void {
    for (let d = 0; d < this.tables.length; d++) {
      const into = this.tables[d];
      const from = pane.tables[d];
      if (into == null || from == null) continue;
      const n = from.size;
      let touched = 0;
      for (let s = 0; s < n; s++) {
        // The window's misses for the keys TOUCH_AHEAD on are started before they are needed.
        if ((s & (TOUCH_AHEAD - 1)) === 0) for (let j = s + TOUCH_AHEAD; j < s + 2 * TOUCH_AHEAD && j < n; j++) touched += into.touch(from.keyAt(j));
        into.mergeSlot(this.slot(d, from.keyAt(s)), from, s);
      }
      this.touchSink = touched;
      const o = pane.overflow[d];
      if (o != null) this.overflowFor(d).merge(o);
    }
    if (pane.global !== null && this.tables[DIM_GLOBAL] != null) mergeSummary(this.summaryFor(DIM_GLOBAL, GLOBAL_KEY), pane.global);
    if (this.tables[DIM_NODE] != null) for (const [k, s] of pane.nodes) mergeSummary(this.summaryFor(DIM_NODE, k), s);
    this.snapshotDirty = true;
  }

  /**
   * Builds the global row and summary of a pane from its node rows (every record has one node key, the
   * overflow bucket included), so ingestion updates one of the two. Merges are the exact ones windows
   * use (counts add, Welford moments by Chan et al., sketches by bins and registers).
   */
  deriveGlobalFromNodes(): void {
    const into = this.tables[DIM_GLOBAL];
    const from = this.tables[DIM_NODE];
    if (into == null || from == null) return;
    for (let s = 0; s < from.size; s++) into.mergeSlot(into.slotFor(GLOBAL_KEY), from, s);
    for (const n of this.nodes.values()) mergeSummary(this.summaryFor(DIM_GLOBAL, GLOBAL_KEY), n);
  }

  /** Releases every key this window retained; the state must not be used afterwards. */
  dispose(): void {
    this.seal();
    for (let d = 0; d < this.tables.length; d++) {
      const t = this.tables[d];
      const kt = this.keyTables[d];
      if (t == null || kt == null) continue;
      for (let s = 0; s < t.size; s++) {
        const k = t.keyAt(s);
        if (k >= 0) kt.release(k);
      }
    }
  }

  shrinkToFit(): void {
    for (const t of this.tables) t?.shrinkToFit();
  }

  /** Drops the dimensions not in `dims` (a pane promoted to a window of fewer dimensions). */
  restrictTo(dims: readonly DimensionName[]): void {
    for (let d = 0; d < this.tables.length; d++) {
      const t = this.tables[d];
      if (t == null || dims.includes(DIMENSIONS[d] ?? "global")) continue;
      const kt = this.keyTables[d];
      if (kt != null) for (let s = 0; s < t.size; s++) if (t.keyAt(s) >= 0) kt.release(t.keyAt(s));
      this.tables[d] = null;
      this.overflow[d] = null;
      if (d === DIM_GLOBAL) this.global = null;
      if (d === DIM_NODE) this.nodes.clear();
    }
  }

  get byteSize(): number {
    let b = this.logValues.byteLength + this.logFlags.byteLength;
    for (const a of this.logIds) b += a?.byteLength ?? 0;
    for (const a of this.logSeen) b += a?.byteLength ?? 0;
    for (const t of this.tables) if (t != null) b += t.byteSize;
    const summaries = (this.global === null ? 0 : 1) + this.nodes.size;
    return b + summaries * 40_000;
  }
}

function mergeSummary(into: Summary, from: Summary): void {
  if (into instanceof DnsSummary && from instanceof DnsSummary) into.merge(from);
  else if (into instanceof FlowSummary && from instanceof FlowSummary) into.merge(from);
}
