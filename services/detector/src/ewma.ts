// Exponentially weighted mean and variance of one series (a baseline), and the z-score of a new value
// against it; the rate detector keeps one per (window size, dimension, key).

/** What a baseline says about a value before the value is folded in. */
export interface Deviation {
  readonly z: number;
  readonly mean: number;
  /** The standard deviation the z-score divides by (after the floor). */
  readonly stddev: number;
}

export interface EwmaState {
  n: number;
  mean: number;
  variance: number;
}

/**
 * EWMA/EWMV (West 1979, as in Finch, "Incremental calculation of weighted mean and variance"): each value
 * has weight `alpha`. While fewer than 1/alpha values have been seen the weight is 1/n instead, which is
 * the plain running mean and variance, so the first values do not anchor the baseline for 1/alpha windows.
 */
export class EwmaBaseline implements EwmaState {
  n = 0;
  mean = 0;
  variance = 0;

  constructor(readonly alpha: number) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`EWMA learning rate ${alpha} is outside (0, 1]`);
  }

  update(x: number): void {
    this.n++;
    const a = Math.max(this.alpha, 1 / this.n);
    const diff = x - this.mean;
    const incr = a * diff;
    this.mean += incr;
    this.variance = (1 - a) * (this.variance + diff * incr);
  }

  /**
   * The z-score of `x`. The variance is floored at `floor` (for counts, the Poisson variance = mean): a
   * series that happened to be perfectly flat would otherwise call any change infinitely unlikely.
   */
  deviation(x: number, floor = 0): Deviation {
    const stddev = Math.sqrt(Math.max(this.variance, floor, Number.MIN_VALUE));
    return { z: (x - this.mean) / stddev, mean: this.mean, stddev };
  }

  snapshot(): EwmaState {
    return { n: this.n, mean: this.mean, variance: this.variance };
  }

  static restore(alpha: number, s: EwmaState): EwmaBaseline {
    const b = new EwmaBaseline(alpha);
    b.n = s.n;
    b.mean = s.mean;
    b.variance = s.variance;
    return b;
  }
}

/** Poisson variance floor for counts: at least 1, so a near-zero baseline does not flag a handful of records. */
export function countVarianceFloor(mean: number): number {
  return Math.max(1, mean);
}
