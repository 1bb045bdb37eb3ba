// Per-key statistics of one window (or pane) for one dimension: count, a flagged count (NXDOMAIN
// answers, reset flows) and the Welford moments of the dimension's measure, one 48-byte record per key
// in a single buffer, addressed through an open-addressing index (at most 3/4 full) from key id to slot.
// About 60 bytes per key, no JS objects.
//
// Record layout (why one record, not a column per field: a record update touches one or two cache
// lines instead of eight, and a million-key window does not fit any cache): count, n, mean, m2 (f64);
// min, max (f32); key id (i32); flagged (u32). Marks live in their own small array (u8: EMIT_DIRTY =
// changed since last emission, SNAPSHOT_DIRTY = changed since last checkpoint), scanned on their own.

export const EMIT_DIRTY = 1;
export const SNAPSHOT_DIRTY = 2;

/** Fields of a record, as f64 indexes (s * F64_STRIDE + ...) and f32 / 32-bit indexes (s * W32_STRIDE + ...). */
const F64_STRIDE = 6;
const W32_STRIDE = 12;
const COUNT = 0;
const N = 1;
const MEAN = 2;
const M2 = 3;
const MIN = 8;
const MAX = 9;
const KEY = 10;
const FLAGGED = 11;
const RECORD_BYTES = 48;

/** A field of the records, as the changelog stores it: one packed little-endian column. */
export type MomentsField = "count" | "flagged" | "n" | "mean" | "m2" | "min" | "max";

export class MomentsTable {
  size = 0;
  marks: Uint8Array;
  private f64: Float64Array;
  private f32: Float32Array;
  private i32: Int32Array;
  private u32: Uint32Array;
  private capacity: number;
  private index: Int32Array;
  private mask: number;

  constructor(initialSlots = 16) {
    this.capacity = Math.max(4, initialSlots);
    const buf = new ArrayBuffer(this.capacity * RECORD_BYTES);
    this.f64 = new Float64Array(buf);
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.u32 = new Uint32Array(buf);
    this.marks = new Uint8Array(this.capacity);
    let size = 8;
    while (size * 3 < this.capacity * 4) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
  }

  get byteSize(): number {
    return this.capacity * (RECORD_BYTES + 1) + this.index.byteLength;
  }

  keyAt(s: number): number {
    return this.i32[s * W32_STRIDE + KEY] ?? 0;
  }
  countAt(s: number): number {
    return this.f64[s * F64_STRIDE + COUNT] ?? 0;
  }
  flaggedAt(s: number): number {
    return this.u32[s * W32_STRIDE + FLAGGED] ?? 0;
  }
  nAt(s: number): number {
    return this.f64[s * F64_STRIDE + N] ?? 0;
  }
  meanAt(s: number): number {
    return this.f64[s * F64_STRIDE + MEAN] ?? 0;
  }
  m2At(s: number): number {
    return this.f64[s * F64_STRIDE + M2] ?? 0;
  }
  minAt(s: number): number {
    return this.f32[s * W32_STRIDE + MIN] ?? Infinity;
  }
  maxAt(s: number): number {
    return this.f32[s * W32_STRIDE + MAX] ?? -Infinity;
  }

  /** Slots [from, to) of one field as a packed little-endian column (f64 count, n, mean, m2; u32 flagged; f32 min, max). */
  column(field: MomentsField, from: number, to: number): Buffer {
    const wide = field === "count" || field === "n" || field === "mean" || field === "m2";
    const out = Buffer.alloc((to - from) * (wide ? 8 : 4));
    for (let s = from, o = 0; s < to; s++, o++) {
      if (field === "count") out.writeDoubleLE(this.countAt(s), 8 * o);
      else if (field === "n") out.writeDoubleLE(this.nAt(s), 8 * o);
      else if (field === "mean") out.writeDoubleLE(this.meanAt(s), 8 * o);
      else if (field === "m2") out.writeDoubleLE(this.m2At(s), 8 * o);
      else if (field === "flagged") out.writeUInt32LE(this.flaggedAt(s), 4 * o);
      else out.writeFloatLE(field === "min" ? this.minAt(s) : this.maxAt(s), 4 * o);
    }
    return out;
  }

  /** The slot of key id `key`, or -1. */
  slotOf(key: number): number {
    let i = Math.imul(key, 0x9e3779b1) & this.mask;
    for (;;) {
      const s = this.index[i] ?? 0;
      if (s === 0) return -1;
      if (this.i32[(s - 1) * W32_STRIDE + KEY] === key) return s - 1;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * Reads the index slot and record a lookup of `key` would read, and returns a value depending on both,
   * so a merge can start the cache misses of the next keys before it needs them.
   */
  touch(key: number): number {
    const s = this.index[Math.imul(key, 0x9e3779b1) & this.mask] ?? 0;
    return s === 0 ? 0 : (this.i32[(s - 1) * W32_STRIDE + KEY] ?? 0);
  }

  /** The slot of `key`, appending a fresh one when absent; `isNew` tells the caller to retain the key. */
  slotFor(key: number): number {
    const index = this.index;
    const i32 = this.i32;
    let i = Math.imul(key, 0x9e3779b1) & this.mask;
    for (;;) {
      const s = index[i] ?? 0;
      if (s === 0) break;
      if (i32[(s - 1) * W32_STRIDE + KEY] === key) {
        this.isNew = false;
        return s - 1;
      }
      i = (i + 1) & this.mask;
    }
    if (this.size === this.capacity) this.resize(this.capacity * 2);
    const slot = this.size++;
    const w = slot * W32_STRIDE;
    this.i32[w + KEY] = key;
    this.f32[w + MIN] = Infinity;
    this.f32[w + MAX] = -Infinity;
    index[i] = slot + 1;
    if (this.size * 4 > index.length * 3) this.growIndex();
    this.isNew = true;
    return slot;
  }

  /** Set by slotFor: whether the last call appended a slot. */
  isNew = false;

  /** Counts a record with no measure value. */
  addCount(slot: number, flagged: boolean): void {
    const f = slot * F64_STRIDE;
    this.f64[f + COUNT] = (this.f64[f + COUNT] ?? 0) + 1;
    if (flagged) this.u32[slot * W32_STRIDE + FLAGGED] = (this.u32[slot * W32_STRIDE + FLAGGED] ?? 0) + 1;
    this.marks[slot] = EMIT_DIRTY | SNAPSHOT_DIRTY;
  }

  /** Counts a record and adds measure `x` with weight `w` (Welford, weighted). */
  addSample(slot: number, flagged: boolean, x: number, w: number): void {
    const f64 = this.f64;
    const f = slot * F64_STRIDE;
    const q = slot * W32_STRIDE;
    f64[f + COUNT] = (f64[f + COUNT] ?? 0) + 1;
    if (flagged) this.u32[q + FLAGGED] = (this.u32[q + FLAGGED] ?? 0) + 1;
    const n = (f64[f + N] ?? 0) + w;
    const mean0 = f64[f + MEAN] ?? 0;
    const delta = x - mean0;
    const mean = mean0 + (delta * w) / n;
    f64[f + M2] = (f64[f + M2] ?? 0) + w * delta * (x - mean);
    f64[f + MEAN] = mean;
    f64[f + N] = n;
    const f32 = this.f32;
    if (x < (f32[q + MIN] ?? Infinity)) f32[q + MIN] = x;
    if (x > (f32[q + MAX] ?? -Infinity)) f32[q + MAX] = x;
    this.marks[slot] = EMIT_DIRTY | SNAPSHOT_DIRTY;
  }

  /** Counts a record and merges a group's moments (a flow's packet sizes): Chan et al. */
  addGroup(slot: number, flagged: boolean, n: number, mean: number, m2: number, min: number, max: number): void {
    this.mergeValues(slot, 1, flagged ? 1 : 0, n, mean, m2, min, max);
  }

  /** Folds slot `from` of `other` into slot `slot` of this table. */
  mergeSlot(slot: number, other: MomentsTable, from: number): void {
    const f = from * F64_STRIDE;
    const q = from * W32_STRIDE;
    const o64 = other.f64;
    const o32 = other.f32;
    this.mergeValues(slot, o64[f + COUNT] ?? 0, other.u32[q + FLAGGED] ?? 0, o64[f + N] ?? 0, o64[f + MEAN] ?? 0, o64[f + M2] ?? 0, o32[q + MIN] ?? Infinity, o32[q + MAX] ?? -Infinity);
  }

  /** Folds one key's statistics, given as values (a decoded changelog entry), into `slot`. */
  mergeValues(slot: number, count: number, flagged: number, nb: number, meanb: number, m2b: number, minb: number, maxb: number): void {
    const f64 = this.f64;
    const f = slot * F64_STRIDE;
    const q = slot * W32_STRIDE;
    f64[f + COUNT] = (f64[f + COUNT] ?? 0) + count;
    if (flagged !== 0) this.u32[q + FLAGGED] = (this.u32[q + FLAGGED] ?? 0) + flagged;
    const na = f64[f + N] ?? 0;
    if (nb > 0 && na === 0) {
      // Copy rather than compute: a window of one pane keeps the pane's exact figures.
      f64[f + N] = nb;
      f64[f + MEAN] = meanb;
      f64[f + M2] = m2b;
    } else if (nb > 0) {
      const n = na + nb;
      const meana = f64[f + MEAN] ?? 0;
      const delta = meanb - meana;
      f64[f + MEAN] = meana + (delta * nb) / n;
      f64[f + M2] = (f64[f + M2] ?? 0) + m2b + (delta * delta * na * nb) / n;
      f64[f + N] = n;
    }
    const f32 = this.f32;
    if (minb < (f32[q + MIN] ?? Infinity)) f32[q + MIN] = minb;
    if (maxb > (f32[q + MAX] ?? -Infinity)) f32[q + MAX] = maxb;
    this.marks[slot] = EMIT_DIRTY | SNAPSHOT_DIRTY;
  }

  /** Clears `mark` on every slot. */
  clearMarks(mark: number): void {
    const m = this.marks;
    const keep = ~mark & 0xff;
    for (let i = 0; i < this.size; i++) m[i] = (m[i] ?? 0) & keep;
  }

  /** Slots in order of decreasing `by` (count, or n x mean for byte volume), at most k; ties by slot. */
  topSlots(k: number, by: "count" | "volume", skipKey: number): number[] {
    if (k <= 0) return [];
    // A bounded min-heap of slots and their scores keeps this O(size log k).
    const heap = new Int32Array(k);
    const scores = new Float64Array(k);
    let len = 0;
    const f64 = this.f64;
    // Heap order: lower score first; on equal scores the higher slot is "smaller" (ties go to lower slots).
    const less = (sa: number, a: number, sb: number, b: number): boolean => sa < sb || (sa === sb && a > b);
    for (let s = 0; s < this.size; s++) {
      if (this.i32[s * W32_STRIDE + KEY] === skipKey) continue;
      const f = s * F64_STRIDE;
      const score = by === "count" ? (f64[f + COUNT] ?? 0) : (f64[f + N] ?? 0) * (f64[f + MEAN] ?? 0);
      let i: number;
      if (len < k) {
        i = len++;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!less(score, s, scores[p] ?? 0, heap[p] ?? 0)) break;
          heap[i] = heap[p] ?? 0;
          scores[i] = scores[p] ?? 0;
          i = p;
        }
      } else if (less(scores[0] ?? 0, heap[0] ?? 0, score, s)) {
        i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = -1;
          let ms = score;
          let mk = s;
          if (l < len && less(scores[l] ?? 0, heap[l] ?? 0, ms, mk)) {
            m = l;
            ms = scores[l] ?? 0;
            mk = heap[l] ?? 0;
          }
          if (r < len && less(scores[r] ?? 0, heap[r] ?? 0, ms, mk)) m = r;
          if (m < 0) break;
          heap[i] = heap[m] ?? 0;
          scores[i] = scores[m] ?? 0;
          i = m;
        }
      } else continue;
      heap[i] = s;
      scores[i] = score;
    }
    const order = Array.from({ length: len }, (_, j) => j);
    order.sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0) || (heap[a] ?? 0) - (heap[b] ?? 0));
    return order.map((j) => heap[j] ?? 0);
  }

  /** Reallocates the records to the slots in use: a closed pane kept as a window takes no more room. */
  shrinkToFit(): void {
    if (this.capacity - this.size < 1024) return;
    this.resize(Math.max(4, this.size));
  }

  private resize(n: number): void {
    const buf = new ArrayBuffer(n * RECORD_BYTES);
    const f64 = new Float64Array(buf);
    f64.set(this.f64.subarray(0, Math.min(this.size, n) * F64_STRIDE));
    this.f64 = f64;
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.u32 = new Uint32Array(buf);
    const marks = new Uint8Array(n);
    marks.set(this.marks.subarray(0, Math.min(this.size, n)));
    this.marks = marks;
    this.capacity = n;
  }

  private growIndex(): void {
    const next = new Int32Array(this.index.length * 2);
    const mask = next.length - 1;
    for (let slot = 0; slot < this.size; slot++) {
      let i = Math.imul(this.i32[slot * W32_STRIDE + KEY] ?? 0, 0x9e3779b1) & mask;
      while ((next[i] ?? 0) !== 0) i = (i + 1) & mask;
      next[i] = slot + 1;
    }
    this.index = next;
    this.mask = mask;
  }
}
