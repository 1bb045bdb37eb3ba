// The robust outlier detector: modified z-scores from the median and the median absolute deviation
// (Iglewicz and Hoaglin 1993), which a burst inside the history cannot drag along as it drags a mean.
import { mad, median } from "./descriptive.js";

/** 0.6745 = the 0.75 quantile of the standard normal: makes MAD-based z comparable to ordinary z. */
const NORMAL_MAD = 0.6745;
/** Mean absolute deviation to sigma for a normal (sqrt(pi/2)), the fallback when MAD is 0. */
const NORMAL_MEAN_AD = 1.2533;

export interface RobustOutlier {
  readonly index: number;
  readonly value: number;
  readonly robustZ: number;
}

/** The centre and spread a modified z-score divides by, from one pass over the history. */
export interface RobustScale {
  readonly median: number;
  /** Sigma-equivalent spread; 0 when every value is the median. */
  readonly sigma: number;
}

/**
 * Median and sigma-equivalent MAD of `history`. When more than half of the history is one value (MAD = 0),
 * the mean absolute deviation stands in; when that is 0 too, sigma is 0 and any other value is infinitely far.
 */
export function robustScale(history: readonly number[]): RobustScale {
  const med = median(history);
  const m = mad(history, med);
  if (m > 0) return { median: med, sigma: m / NORMAL_MAD };
  let meanAd = 0;
  for (const v of history) meanAd += Math.abs(v - med);
  meanAd /= Math.max(1, history.length);
  return { median: med, sigma: NORMAL_MEAN_AD * meanAd };
}

export function robustZFrom(scale: RobustScale, x: number): number {
  if (scale.sigma > 0) return (x - scale.median) / scale.sigma;
  return x === scale.median ? 0 : Math.sign(x - scale.median) * Infinity;
}

/** Modified z-score of `x` against `history`. */
export function robustZ(history: readonly number[], x: number): number {
  return history.length === 0 ? 0 : robustZFrom(robustScale(history), x);
}

/** Points whose modified z-score against the whole sample is at least `threshold` in absolute value. */
export function robustOutliers(values: readonly number[], threshold: number): RobustOutlier[] {
  if (values.length < 3) return [];
  const scale = robustScale(values);
  const out: RobustOutlier[] = [];
  for (let i = 0; i < values.length; i++) {
    const z = robustZFrom(scale, values[i]!);
    if (Math.abs(z) >= threshold) out.push({ index: i, value: values[i]!, robustZ: z });
  }
  return out;
}
