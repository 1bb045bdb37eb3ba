// Welford running moments (count, mean, M2, min, max) and the Chan et al. pairwise merge, shared by the
// aggregator's windows and the detector's baselines so both compute variance the same, stable way.

/** Moments of a weighted sample; `m2` is the sum of squared deviations from `mean`. */
export interface Moments {
  n: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
}

export function emptyMoments(): Moments {
  return { n: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity };
}

/** Adds `x` with weight `w` (w > 0); West's weighted form of Welford's update. */
export function addSample(m: Moments, x: number, w = 1): void {
  const n = m.n + w;
  const delta = x - m.mean;
  const mean = m.mean + (delta * w) / n;
  m.m2 += w * delta * (x - mean);
  m.mean = mean;
  m.n = n;
  if (x < m.min) m.min = x;
  if (x > m.max) m.max = x;
}

/**
 * Folds `b` into `a`. Chan, Golub and LeVeque's parallel formula: exact for any split of a sample, so a
 * window built from panes, or a total built from partitions, has the variance of the whole sample.
 */
export function mergeMoments(a: Moments, b: Moments): void {
  if (b.n === 0) return;
  if (a.n === 0) {
    a.n = b.n;
    a.mean = b.mean;
    a.m2 = b.m2;
    a.min = b.min;
    a.max = b.max;
    return;
  }
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  a.mean += (delta * b.n) / n;
  a.m2 += b.m2 + (delta * delta * a.n * b.n) / n;
  a.n = n;
  if (b.min < a.min) a.min = b.min;
  if (b.max > a.max) a.max = b.max;
}

/** Population variance (m2 / n); 0 for fewer than two samples. */
export function variance(m: Moments): number {
  return m.n > 1 ? m.m2 / m.n : 0;
}

/** Sample variance (m2 / (n - 1)); 0 for fewer than two samples. */
export function sampleVariance(m: Moments): number {
  return m.n > 1 ? m.m2 / (m.n - 1) : 0;
}

/**
 * Moments of a group given as count, sum and sum of squares (the form a flow exporter keeps per flow).
 * The subtraction is done once per group, not per sample, and clamped at 0 against rounding.
 */
export function momentsFromSums(n: number, sum: number, sumSquares: number, min: number, max: number): Moments {
  if (n <= 0) return emptyMoments();
  const mean = sum / n;
  return { n, mean, m2: Math.max(0, sumSquares - sum * mean), min, max };
}
