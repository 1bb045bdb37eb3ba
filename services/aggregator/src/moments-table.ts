// Per-key statistics of one window (or pane) for one dimension, as struct-of-arrays: count, a flagged
// count (NXDOMAIN answers, reset flows) and the Welford moments of the dimension's measure, addressed
// through an open-addressing index (at most 3/4 full) from key id to slot. About 60 bytes per key, no
// JS objects.
//
// Slot layout: key id (i32), count (f64), flagged (u32), n / mean / m2 (f64, Welford), min / max (f32),
// marks (u8: EMIT_DIRTY = changed since last emission, SNAPSHOT_DIRTY = changed since last checkpoint).

export const EMIT_DIRTY = 1;
export const SNAPSHOT_DIRTY = 2;

export class MomentsTable {
  size = 0;
  keyOf: Int32Array;
  count: Float64Array;
  flagged: Uint32Array;
  n: Float64Array;
  mean: Float64Array;
  m2: Float64Array;
  min: Float32Array;
  max: Float32Array;
  marks: Uint8Array;
  private index: Int32Array;
  private mask: number;

  constructor(initialSlots = 16) {
    const cap = Math.max(4, initialSlots);
    this.keyOf = new Int32Array(cap);
    this.count = new Float64Array(cap);
    this.flagged = new Uint32Array(cap);
    this.n = new Float64Array(cap);
    this.mean = new Float64Array(cap);
    this.m2 = new Float64Array(cap);
    this.min = new Float32Array(cap).fill(Infinity);
    this.max = new Float32Array(cap).fill(-Infinity);
    this.marks = new Uint8Array(cap);
    let size = 8;
    while (size * 3 < cap * 4) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
  }

  get byteSize(): number {
    return this.keyOf.length * 53 + this.index.byteLength;
  }

  /** The slot of key id `key`, or -1. */
  slotOf(key: number): number {
    let i = Math.imul(key, 0x9e3779b1) & this.mask;
    for (;;) {
      const s = this.index[i] ?? 0;
      if (s === 0) return -1;
      if (this.keyOf[s - 1] === key) return s - 1;
      i = (i + 1) & this.mask;
    }
  }

  /** The slot of `key`, appending a fresh one when absent; `isNew` tells the caller to retain the key. */
  slotFor(key: number): number {
    let i = Math.imul(key, 0x9e3779b1) & this.mask;
    for (;;) {
      const s = this.index[i] ?? 0;
      if (s === 0) break;
      if (this.keyOf[s - 1] === key) {
        this.isNew = false;
        return s - 1;
      }
      i = (i + 1) & this.mask;
    }
    if (this.size === this.keyOf.length) this.growSlots();
    const slot = this.size++;
    this.keyOf[slot] = key;
    this.index[i] = slot + 1;
    if (this.size * 4 > this.index.length * 3) this.growIndex();
    this.isNew = true;
    return slot;
  }

  /** Set by slotFor: whether the last call appended a slot. */
  isNew = false;

  /** Counts a record with no measure value. */
  addCount(slot: number, flagged: boolean): void {
    this.count[slot] = (this.count[slot] ?? 0) + 1;
    if (flagged) this.flagged[slot] = (this.flagged[slot] ?? 0) + 1;
    this.marks[slot] = EMIT_DIRTY | SNAPSHOT_DIRTY;
  }

  /** Counts a record and adds measure `x` with weight `w` (Welford, weighted). */
  addSample(slot: number, flagged: boolean, x: number, w: number): void {
    this.count[slot] = (this.count[slot] ?? 0) + 1;
    if (flagged) this.flagged[slot] = (this.flagged[slot] ?? 0) + 1;
    const n0 = this.n[slot] ?? 0;
    const n = n0 + w;
    const mean0 = this.mean[slot] ?? 0;
    const delta = x - mean0;
    const mean = mean0 + (delta * w) / n;
    this.m2[slot] = (this.m2[slot] ?? 0) + w * delta * (x - mean);
    this.mean[slot] = mean;
    this.n[slot] = n;
    if (x < (this.min[slot] ?? Infinity)) this.min[slot] = x;
    if (x > (this.max[slot] ?? -Infinity)) this.max[slot] = x;
    this.marks[slot] = EMIT_DIRTY | SNAPSHOT_DIRTY;
  }

  /** Counts a record and merges a group's moments (a flow's packet sizes): Chan et al. */
  addGroup(slot: number, flagged: boolean, n: number, mean: number, m2: number, min: number, max: number): void {
    this.count[slot] = (this.count[slot] ?? 0) + 1;
    if (flagged) this.flagged[slot] = (this.flagged[slot] ?? 0) + 1;
    this.mergeMoments(slot, n, mean, m2, min, max);
    this.marks[slot] = EMIT_DIRTY | SNAPSHOT_DIRTY;
  }

  /** Folds slot `from` of `other` into slot `slot` of this table. */
  mergeSlot(slot: number, other: MomentsTable, from: number): void {
    this.mergeValues(slot, other.count[from] ?? 0, other.flagged[from] ?? 0, other.n[from] ?? 0, other.mean[from] ?? 0, other.m2[from] ?? 0, other.min[from] ?? Infinity, other.max[from] ?? -Infinity);
  }

  /** Folds one key's statistics, given as values (a decoded changelog entry), into `slot`. */
  mergeValues(slot: number, count: number, flagged: number, n: number, mean: number, m2: number, min: number, max: number): void {
    this.count[slot] = (this.count[slot] ?? 0) + count;
    this.flagged[slot] = (this.flagged[slot] ?? 0) + flagged;
    this.mergeMoments(slot, n, mean, m2, min, max);
    this.marks[slot] = EMIT_DIRTY | SNAPSHOT_DIRTY;
  }

  private mergeMoments(slot: number, nb: number, meanb: number, m2b: number, minb: number, maxb: number): void {
    const na = this.n[slot] ?? 0;
    if (nb > 0 && na === 0) {
      // Copy rather than compute: a window of one pane keeps the pane's exact figures.
      this.n[slot] = nb;
      this.mean[slot] = meanb;
      this.m2[slot] = m2b;
    } else if (nb > 0) {
      const n = na + nb;
      const meana = this.mean[slot] ?? 0;
      const delta = meanb - meana;
      this.mean[slot] = meana + (delta * nb) / n;
      this.m2[slot] = (this.m2[slot] ?? 0) + m2b + (delta * delta * na * nb) / n;
      this.n[slot] = n;
    }
    if (minb < (this.min[slot] ?? Infinity)) this.min[slot] = minb;
    if (maxb > (this.max[slot] ?? -Infinity)) this.max[slot] = maxb;
  }

  /** Clears `mark` on every slot. */
  clearMarks(mark: number): void {
    const m = this.marks;
    const keep = ~mark & 0xff;
    for (let i = 0; i < this.size; i++) m[i] = (m[i] ?? 0) & keep;
  }

  /** Slots in order of decreasing `by` (count, or n x mean for byte volume), at most k; ties by slot. */
  topSlots(k: number, by: "count" | "volume", skipKey: number): number[] {
    // A bounded min-heap of slot indices keeps this O(size log k).
    const heap: number[] = [];
    const score = by === "count" ? (s: number): number => this.count[s] ?? 0 : (s: number): number => (this.n[s] ?? 0) * (this.mean[s] ?? 0);
    const less = (a: number, b: number): boolean => score(a) < score(b) || (score(a) === score(b) && a > b);
    const siftDown = (): void => {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l] ?? 0, heap[m] ?? 0)) m = l;
        if (r < heap.length && less(heap[r] ?? 0, heap[m] ?? 0)) m = r;
        if (m === i) return;
        const t = heap[i] ?? 0;
        heap[i] = heap[m] ?? 0;
        heap[m] = t;
        i = m;
      }
    };
    for (let s = 0; s < this.size; s++) {
      if (this.keyOf[s] === skipKey) continue;
      if (heap.length < k) {
        heap.push(s);
        let i = heap.length - 1;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!less(heap[i] ?? 0, heap[p] ?? 0)) break;
          const t = heap[i] ?? 0;
          heap[i] = heap[p] ?? 0;
          heap[p] = t;
          i = p;
        }
      } else if (k > 0 && less(heap[0] ?? 0, s)) {
        heap[0] = s;
        siftDown();
      }
    }
    return heap.sort((a, b) => (less(a, b) ? 1 : less(b, a) ? -1 : 0));
  }

  /** Reallocates the columns to the slots in use: a closed pane kept as a window takes no more room. */
  shrinkToFit(): void {
    if (this.keyOf.length - this.size < 1024) return;
    this.resize(Math.max(4, this.size));
  }

  private growSlots(): void {
    this.resize(this.keyOf.length * 2);
  }

  private resize(n: number): void {
    const widen = <T extends Int32Array | Float64Array | Uint32Array | Float32Array | Uint8Array>(a: T, b: T, fill?: number): T => {
      if (fill !== undefined) b.fill(fill);
      b.set(a.subarray(0, Math.min(a.length, n)));
      return b;
    };
    this.keyOf = widen(this.keyOf, new Int32Array(n));
    this.count = widen(this.count, new Float64Array(n));
    this.flagged = widen(this.flagged, new Uint32Array(n));
    this.n = widen(this.n, new Float64Array(n));
    this.mean = widen(this.mean, new Float64Array(n));
    this.m2 = widen(this.m2, new Float64Array(n));
    this.min = widen(this.min, new Float32Array(n), Infinity);
    this.max = widen(this.max, new Float32Array(n), -Infinity);
    this.marks = widen(this.marks, new Uint8Array(n));
  }

  private growIndex(): void {
    const next = new Int32Array(this.index.length * 2);
    const mask = next.length - 1;
    for (let slot = 0; slot < this.size; slot++) {
      let i = Math.imul(this.keyOf[slot] ?? 0, 0x9e3779b1) & mask;
      while ((next[i] ?? 0) !== 0) i = (i + 1) & mask;
      next[i] = slot + 1;
    }
    this.index = next;
    this.mask = mask;
  }
}
