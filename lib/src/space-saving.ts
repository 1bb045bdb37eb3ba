// Space-Saving heavy hitters (Metwally, Agrawal, El Abbadi 2005) with k counters kept in a min-heap:
// every item whose true count exceeds N/k is present, and each count overestimates by at most `error`.

export interface HeavyHitter {
  readonly key: string;
  /** Upper bound of the true count. */
  readonly count: number;
  /** Maximum overestimation: the true count is in [count - error, count]. */
  readonly error: number;
}

export class SpaceSaving {
  readonly capacity: number;
  private readonly keys: string[] = [];
  private readonly counts: Float64Array;
  private readonly errors: Float64Array;
  private readonly index = new Map<string, number>();
  private total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Space-Saving capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.counts = new Float64Array(capacity);
    this.errors = new Float64Array(capacity);
  }

  /** Total weight offered, N in the N/k guarantee. */
  get offered(): number {
    return this.total;
  }

  get size(): number {
    return this.keys.length;
  }

  add(key: string, weight = 1): void {
    this.total += weight;
    const at = this.index.get(key);
    if (at !== undefined) {
      this.counts[at] = (this.counts[at] ?? 0) + weight;
      this.siftDown(at);
      return;
    }
    if (this.keys.length < this.capacity) {
      const i = this.keys.length;
      this.keys.push(key);
      this.counts[i] = weight;
      this.errors[i] = 0;
      this.index.set(key, i);
      this.siftUp(i);
      return;
    }
    // Replace the minimum: the newcomer inherits its count as the error bound.
    const min = this.counts[0] ?? 0;
    this.index.delete(this.keys[0] ?? "");
    this.keys[0] = key;
    this.index.set(key, 0);
    this.counts[0] = min + weight;
    this.errors[0] = min;
    this.siftDown(0);
  }

  /** The k' largest counters, largest first. */
  top(k = this.capacity): HeavyHitter[] {
    const out: HeavyHitter[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      out.push({ key: this.keys[i] ?? "", count: this.counts[i] ?? 0, error: this.errors[i] ?? 0 });
    }
    out.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
    return out.slice(0, k);
  }

  /** Folds another summary in (Agarwal et al. 2012 mergeable summaries: add, then keep the k largest). */
  merge(other: SpaceSaving): void {
    const minThis = this.keys.length < this.capacity ? 0 : (this.counts[0] ?? 0);
    const minOther = other.keys.length < other.capacity ? 0 : (other.counts[0] ?? 0);
    const merged = new Map<string, { count: number; error: number }>();
    for (const h of this.top()) merged.set(h.key, { count: h.count + minOther, error: h.error + minOther });
    for (const h of other.top()) {
      const e = merged.get(h.key);
      if (e !== undefined) {
        e.count += h.count - minOther;
        e.error += h.error - minOther;
      } else {
        merged.set(h.key, { count: h.count + minThis, error: h.error + minThis });
      }
    }
    const total = this.total + other.total;
    const entries = [...merged].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1)).slice(0, this.capacity);
    this.keys.length = 0;
    this.index.clear();
    for (const [key, v] of entries) {
      const i = this.keys.length;
      this.keys.push(key);
      this.counts[i] = v.count;
      this.errors[i] = v.error;
      this.index.set(key, i);
      this.siftUp(i);
    }
    this.total = total;
  }

  private swap(i: number, j: number): void {
    const ki = this.keys[i] ?? "";
    const kj = this.keys[j] ?? "";
    this.keys[i] = kj;
    this.keys[j] = ki;
    this.index.set(kj, i);
    this.index.set(ki, j);
    const c = this.counts[i] ?? 0;
    this.counts[i] = this.counts[j] ?? 0;
    this.counts[j] = c;
    const e = this.errors[i] ?? 0;
    this.errors[i] = this.errors[j] ?? 0;
    this.errors[j] = e;
  }

  private siftUp(start: number): void {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.counts[parent] ?? 0) <= (this.counts[i] ?? 0)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(start: number): void {
    let i = start;
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && (this.counts[l] ?? 0) < (this.counts[m] ?? 0)) m = l;
      if (r < n && (this.counts[r] ?? 0) < (this.counts[m] ?? 0)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
