// Avro encoding of the aggregator's changelog: closed panes and late deltas (every key's statistics
// and the summaries' sketches) and each task's progress, written to the state topic inside the same
// Kafka transaction as the aggregates and the consumer offsets. The schemas are internal to the
// aggregator (the changelog is read only by it), versioned by the record name.
import avro from "avsc";
import { HyperLogLog } from "../../../lib/src/hyperloglog.js";
import type { Moments } from "../../../lib/src/welford.js";
import { OVERFLOW } from "./key-table.js";
import { DnsSummary, FlowSummary, HLL_PRECISION, type QuantileSketch } from "./summaries.js";
import { DIM_GLOBAL, GLOBAL_KEY, WindowState, type KeyTablesByDim, type Stream } from "./window-state.js";
import { DIMENSIONS, type DimensionName } from "./windows.js";

const MOMENTS = { type: "record", name: "Moments", fields: ["n", "mean", "m2", "min", "max"].map((name) => ({ name, type: "double" })) };

/*
 * PaneState v1: one closed pane or late delta of one task.
 *   dims[]: per tracked dimension, parallel columns over its slots; key null = the "(other)" bucket;
 *           count/n/mean/m2 are little-endian float64 arrays, flagged uint32, min/max float32.
 *   summaries[]: the global or node key's sketches; HLL registers sparse (u16 index, u8 value) pairs
 *           when fewer than a quarter are set, else dense; DDSketch as (bin key, count) pairs.
 */
const PANE_SCHEMA = {
  type: "record",
  name: "PaneStateV1",
  namespace: "io.stoq.aggregator",
  fields: [
    { name: "start", type: "double" },
    { name: "end", type: "double" },
    {
      name: "dims",
      type: {
        type: "array",
        items: {
          type: "record",
          name: "DimState",
          fields: [
            { name: "dim", type: "string" },
            { name: "keys", type: { type: "array", items: ["null", "string"] } },
            { name: "count", type: "bytes" },
            { name: "flagged", type: "bytes" },
            { name: "n", type: "bytes" },
            { name: "mean", type: "bytes" },
            { name: "m2", type: "bytes" },
            { name: "min", type: "bytes" },
            { name: "max", type: "bytes" },
            { name: "overflow", type: { type: "array", items: { type: "record", name: "OverflowEntry", fields: [{ name: "key", type: "string" }, { name: "count", type: "double" }, { name: "error", type: "double" }] } } },
          ],
        },
      },
    },
    {
      name: "summaries",
      type: {
        type: "array",
        items: {
          type: "record",
          name: "SummaryState",
          fields: [
            { name: "key", type: ["null", "string"], doc: "node name; null for global" },
            { name: "counter", type: "double", doc: "DNS responses, or flow bytes" },
            { name: "sketch", type: "bytes" },
            { name: "moments", type: { type: "array", items: MOMENTS } },
            { name: "histogram", type: { type: "array", items: "double" } },
            { name: "hlls", type: { type: "array", items: "bytes" } },
          ],
        },
      },
    },
  ],
};

/*
 * TaskProgress v1: where a task's changelog stands. `next_offset` is the input offset after the last
 * record consumed at the checkpoint; `watermark` the watermark then. A replayed record before
 * next_offset whose pane ended at or before the watermark is already in the changelog.
 */
const PROGRESS_SCHEMA = {
  type: "record",
  name: "TaskProgressV1",
  namespace: "io.stoq.aggregator",
  fields: [
    { name: "watermark", type: "double" },
    { name: "max_event_time", type: "double" },
    { name: "next_offset", type: "long" },
    { name: "late_since_emit", type: { type: "map", values: "double" } },
    { name: "late_total", type: "double" },
    { name: "records_total", type: "double" },
    { name: "revisions", type: { type: "map", values: "long" } },
    { name: "next_delta_seq", type: "long" },
  ],
};

export const paneType = avro.Type.forSchema(PANE_SCHEMA as avro.Schema);
export const progressType = avro.Type.forSchema(PROGRESS_SCHEMA as avro.Schema);

export interface TaskProgress {
  watermark: number;
  max_event_time: number;
  next_offset: number;
  late_since_emit: Record<string, number>;
  late_total: number;
  records_total: number;
  revisions: Record<string, number>;
  next_delta_seq: number;
}

interface DimStateWire {
  dim: string;
  keys: (string | null)[];
  count: Buffer;
  flagged: Buffer;
  n: Buffer;
  mean: Buffer;
  m2: Buffer;
  min: Buffer;
  max: Buffer;
  overflow: { key: string; count: number; error: number }[];
}
interface SummaryWire {
  key: string | null;
  counter: number;
  sketch: Buffer;
  moments: Moments[];
  histogram: number[];
  hlls: Buffer[];
}
interface PaneWire {
  start: number;
  end: number;
  dims: DimStateWire[];
  summaries: SummaryWire[];
}

function encodeHll(h: HyperLogLog): Buffer {
  const r = h.registers;
  let set = 0;
  for (const v of r) if (v !== 0) set++;
  if (set * 4 >= r.length) return Buffer.concat([Buffer.from([0]), Buffer.from(r)]);
  const out = Buffer.alloc(1 + 3 * set);
  out[0] = 1;
  let o = 1;
  for (let i = 0; i < r.length; i++) {
    const v = r[i] ?? 0;
    if (v === 0) continue;
    out.writeUInt16LE(i, o);
    out[o + 2] = v;
    o += 3;
  }
  return out;
}

function decodeHll(b: Buffer): HyperLogLog {
  const h = new HyperLogLog(HLL_PRECISION);
  if (b[0] === 0) h.registers.set(b.subarray(1));
  else for (let o = 1; o + 2 < b.length; o += 3) h.registers[b.readUInt16LE(o)] = b[o + 2] ?? 0;
  return h;
}

function encodeSketch(s: QuantileSketch): Buffer {
  const bins = s.store.bins;
  const pairs: number[] = [s.zeroCount];
  for (let i = 0; i < bins.length; i++) if ((bins[i] ?? 0) > 0) pairs.push(i + s.store.offset, bins[i] ?? 0);
  return Buffer.from(new Float64Array(pairs).buffer);
}

function decodeSketchInto(s: QuantileSketch, b: Buffer): void {
  const v = new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  const zero = v[0] ?? 0;
  s.zeroCount += zero;
  s.count += zero;
  for (let i = 1; i + 1 < v.length; i += 2) {
    const c = v[i + 1] ?? 0;
    s.store.add(v[i] ?? 0, c);
    s.count += c;
  }
}

/** Keys per changelog record: keeps each record far below the broker's 1 MiB message limit. */
export const PANE_CHUNK_SLOTS = 4096;

/**
 * Encodes a pane as one or more records: each holds up to PANE_CHUNK_SLOTS keys of one dimension, the
 * first also the summaries. Merging is associative, so the chunks rebuild the pane in any order.
 */
export function encodePane(w: WindowState, keyTables: KeyTablesByDim): Buffer[] {
  const chunks: PaneWire[] = [];
  w.tables.forEach((t, d) => {
    if (t == null) return;
    const kt = keyTables[d];
    for (let from = 0; from === 0 || from < t.size; from += PANE_CHUNK_SLOTS) {
      const to = Math.min(t.size, from + PANE_CHUNK_SLOTS);
      const keys: (string | null)[] = [];
      for (let s = from; s < to; s++) {
        const id = t.keyAt(s);
        keys.push(id === OVERFLOW ? null : d === DIM_GLOBAL ? "" : (kt?.keyOf(id) ?? ""));
      }
      const o = w.overflow[d];
      chunks.push({
        start: w.start,
        end: w.end,
        dims: [
          {
            dim: DIMENSIONS[d] ?? "global",
            keys,
            count: t.column("count", from, to),
            flagged: t.column("flagged", from, to),
            n: t.column("n", from, to),
            mean: t.column("mean", from, to),
            m2: t.column("m2", from, to),
            min: t.column("min", from, to),
            max: t.column("max", from, to),
            overflow: o == null || from > 0 ? [] : o.top().map((h) => ({ key: h.key, count: h.count, error: h.error })),
          },
        ],
        summaries: [],
      });
    }
  });
  const summaries: SummaryWire[] = [];
  const nodeTable = keyTables[1];
  const push = (key: string | null, s: DnsSummary | FlowSummary): void => {
    if (s instanceof DnsSummary) {
      summaries.push({ key, counter: s.responses, sketch: encodeSketch(s.responseTime), moments: [s.querySize, s.responseSize, s.qnameLength], histogram: [], hlls: [s.domains, s.qnames, s.sources, s.destinations].map(encodeHll) });
    } else {
      summaries.push({ key, counter: s.bytes, sketch: encodeSketch(s.durationSketch), moments: [s.duration, s.interArrival], histogram: Array.from(s.durationHistogram), hlls: [s.flows, s.sources, s.destinations].map(encodeHll) });
    }
  };
  if (w.global !== null) push(null, w.global);
  for (const [k, s] of w.nodes) push(nodeTable?.keyOf(k) ?? "", s);
  const first = chunks[0] ?? { start: w.start, end: w.end, dims: [], summaries: [] };
  first.summaries = summaries;
  if (chunks.length === 0) chunks.push(first);
  return chunks.map((c) => paneType.toBuffer(c));
}

/** Decodes a pane, interning its keys into `keyTables` (keys that no longer fit go to "(other)"). */
export function decodePane(buf: Buffer, stream: Stream, keyTables: KeyTablesByDim): WindowState {
  const wire = paneType.fromBuffer(buf) as PaneWire;
  const dimNames = wire.dims.map((d) => d.dim as DimensionName);
  const w = new WindowState(stream, wire.start, wire.end, dimNames, keyTables);
  for (const ds of wire.dims) {
    const d = DIMENSIONS.indexOf(ds.dim as DimensionName);
    const t = w.tables[d];
    if (t == null) continue;
    const f64 = (b: Buffer): Float64Array => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
    const count = f64(ds.count);
    const n = f64(ds.n);
    const mean = f64(ds.mean);
    const m2 = f64(ds.m2);
    const flagged = new Uint32Array(ds.flagged.buffer.slice(ds.flagged.byteOffset, ds.flagged.byteOffset + ds.flagged.length));
    const min = new Float32Array(ds.min.buffer.slice(ds.min.byteOffset, ds.min.byteOffset + ds.min.length));
    const max = new Float32Array(ds.max.buffer.slice(ds.max.byteOffset, ds.max.byteOffset + ds.max.length));
    const kt = keyTables[d];
    ds.keys.forEach((key, i) => {
      const id = d === DIM_GLOBAL ? GLOBAL_KEY : key === null || kt == null ? OVERFLOW : kt.intern(key);
      t.mergeValues(w.slot(d, id), count[i] ?? 0, flagged[i] ?? 0, n[i] ?? 0, mean[i] ?? 0, m2[i] ?? 0, min[i] ?? Infinity, max[i] ?? -Infinity);
    });
    if (ds.overflow.length > 0) {
      const o = w.overflowFor(d);
      for (const e of ds.overflow) o.add(e.key, e.count);
    }
  }
  const nodeTable = keyTables[1];
  for (const sw of wire.summaries) {
    const dim = sw.key === null ? DIM_GLOBAL : 1;
    const key = sw.key === null ? GLOBAL_KEY : (nodeTable?.intern(sw.key) ?? OVERFLOW);
    if (dim === 1 && key === OVERFLOW) continue;
    const s = w.summaryFor(dim, key);
    if (s instanceof DnsSummary) {
      s.responses += sw.counter;
      decodeSketchInto(s.responseTime, sw.sketch);
      const [q, r, l] = sw.moments;
      if (q) Object.assign(s.querySize, q);
      if (r) Object.assign(s.responseSize, r);
      if (l) Object.assign(s.qnameLength, l);
      [s.domains, s.qnames, s.sources, s.destinations].forEach((h, i) => h.merge(decodeHll(sw.hlls[i] ?? Buffer.from([1]))));
    } else {
      s.bytes += sw.counter;
      decodeSketchInto(s.durationSketch, sw.sketch);
      const [dur, iat] = sw.moments;
      if (dur) Object.assign(s.duration, dur);
      if (iat) Object.assign(s.interArrival, iat);
      sw.histogram.forEach((c, i) => (s.durationHistogram[i] = c));
      [s.flows, s.sources, s.destinations].forEach((h, i) => h.merge(decodeHll(sw.hlls[i] ?? Buffer.from([1]))));
    }
  }
  return w;
}

export function encodeProgress(p: TaskProgress): Buffer {
  return progressType.toBuffer(p);
}

export function decodeProgress(b: Buffer): TaskProgress {
  return progressType.fromBuffer(b) as TaskProgress;
}
