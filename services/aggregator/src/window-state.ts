// The state of one pane or window of one input partition: a MomentsTable per tracked dimension, the rich
// summaries of its global and node keys, and Space-Saving heavy hitters over keys that overflowed the
// key bounds. Panes and windows share this type so a closed pane merges into a window slot by slot.
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

  constructor(
    readonly stream: Stream,
    readonly start: number,
    readonly end: number,
    dims: readonly DimensionName[],
    private readonly keyTables: KeyTablesByDim,
    /** Expected keys per dimension (the previous pane's), so a busy pane does not regrow a dozen times. */
    sizeHints?: readonly number[],
  ) {
    this.tables = DIMENSIONS.map((d, i) => (dims.includes(d) ? new MomentsTable(sizeHints?.[i] ?? 16) : null));
    this.overflow = DIMENSIONS.map(() => null);
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
      for (let s = 0; s < from.size; s++) into.mergeSlot(this.slot(d, from.keyAt(s)), from, s);
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
    let b = 0;
    for (const t of this.tables) if (t != null) b += t.byteSize;
    const summaries = (this.global === null ? 0 : 1) + this.nodes.size;
    return b + summaries * 40_000;
  }
}

function mergeSummary(into: Summary, from: Summary): void {
  if (into instanceof DnsSummary && from instanceof DnsSummary) into.merge(from);
  else if (into instanceof FlowSummary && from instanceof FlowSummary) into.merge(from);
}
