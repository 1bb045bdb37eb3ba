// Descriptive statistics of a sample (moments, quantiles, median absolute deviation), used by the
// statistical analyzer and by the detectors' evidence.

export interface DescriptiveStatistics {
  readonly count: number;
  readonly sum: number;
  readonly mean: number;
  /** Population variance. */
  readonly variance: number;
  readonly stddev: number;
  readonly min: number;
  readonly max: number;
  readonly median: number;
  /** Median absolute deviation from the median (unscaled). */
  readonly mad: number;
  readonly p05: number;
  readonly p25: number;
  readonly p75: number;
  readonly p95: number;
  readonly p99: number;
  /** Sample skewness (Fisher-Pearson, biased); 0 when the variance is 0. */
  readonly skewness: number;
  /** Excess kurtosis (biased); 0 when the variance is 0. */
  readonly kurtosis: number;
  /** stddev / |mean|; null when the mean is 0. */
  readonly coefficientOfVariation: number | null;
}

/** Quantile q of an ascending array by linear interpolation between order statistics (Hyndman-Fan type 7). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return a + (h - lo) * (b - a);
}

export function median(values: readonly number[]): number {
  return quantileSorted([...values].sort((a, b) => a - b), 0.5);
}

/** Median absolute deviation from the median (unscaled: multiply by 1.4826 for a normal's sigma). */
export function mad(values: readonly number[], center = median(values)): number {
  return median(values.map((x) => Math.abs(x - center)));
}

export function describe(values: readonly number[]): DescriptiveStatistics {
  const n = values.length;
  if (n === 0) {
    return { count: 0, sum: 0, mean: NaN, variance: NaN, stddev: NaN, min: NaN, max: NaN, median: NaN, mad: NaN, p05: NaN, p25: NaN, p75: NaN, p95: NaN, p99: NaN, skewness: NaN, kurtosis: NaN, coefficientOfVariation: null };
  }
  let sum = 0;
  for (const x of values) sum += x;
  const mean = sum / n;
  // Two-pass central moments: exact enough for detector inputs, no cancellation as in sum-of-squares.
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (const x of values) {
    const d = x - mean;
    const d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  const variance = m2 / n;
  const sorted = [...values].sort((a, b) => a - b);
  const med = quantileSorted(sorted, 0.5);
  return {
    count: n,
    sum,
    mean,
    variance,
    stddev: Math.sqrt(variance),
    min: sorted[0]!,
    max: sorted[n - 1]!,
    median: med,
    mad: mad(sorted, med),
    p05: quantileSorted(sorted, 0.05),
    p25: quantileSorted(sorted, 0.25),
    p75: quantileSorted(sorted, 0.75),
    p95: quantileSorted(sorted, 0.95),
    p99: quantileSorted(sorted, 0.99),
    skewness: variance > 0 ? m3 / n / variance ** 1.5 : 0,
    kurtosis: variance > 0 ? m4 / n / (variance * variance) - 3 : 0,
    coefficientOfVariation: mean !== 0 ? Math.sqrt(variance) / Math.abs(mean) : null,
  };
}

/** Shannon entropy in bits per symbol of a string's characters. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}
