// Linear trend by least squares with prediction intervals (Student t), and the seasonality test that
// decides whether a series has a daily (or weekly) cycle worth a seasonal model.
import { zForCoverage } from "./exponential-smoothing.js";

export interface LinearTrend {
  readonly n: number;
  /** Value units per x unit (per millisecond when x is a timestamp). */
  readonly slope: number;
  readonly intercept: number;
  readonly r2: number;
  /** Residual standard error. */
  readonly residualSd: number;
  readonly meanX: number;
  readonly sxx: number;
}

export interface Prediction {
  readonly x: number;
  readonly mean: number;
  readonly lower: number;
  readonly upper: number;
}

/** Student t quantile by the Cornish-Fisher expansion around the normal (error < 0.01 for df >= 3). */
export function tQuantile(coverage: number, df: number): number {
  const z = zForCoverage(coverage);
  if (!Number.isFinite(df) || df > 1000) return z;
  const v = Math.max(1, df);
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v ** 3);
}

export function linearTrend(xs: readonly number[], ys: readonly number[]): LinearTrend {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return { n, slope: 0, intercept: ys[0] ?? NaN, r2: 0, residualSd: 0, meanX: xs[0] ?? 0, sxx: 0 };
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const intercept = my - slope * mx;
  const sse = Math.max(0, syy - slope * sxy);
  return { n, slope, intercept, r2: syy > 0 ? 1 - sse / syy : 0, residualSd: n > 2 ? Math.sqrt(sse / (n - 2)) : 0, meanX: mx, sxx };
}

/** The prediction interval for a new observation at x: s * sqrt(1 + 1/n + (x - mean x)^2 / Sxx). */
export function predictLinear(t: LinearTrend, x: number, coverage = 0.95): Prediction {
  const mean = t.intercept + t.slope * x;
  const lever = t.sxx > 0 ? ((x - t.meanX) * (x - t.meanX)) / t.sxx : 0;
  const half = tQuantile(coverage, t.n - 2) * t.residualSd * Math.sqrt(1 + 1 / Math.max(1, t.n) + lever);
  return { x, mean, lower: mean - half, upper: mean + half };
}

/** Sample autocorrelation at `lag`. */
export function autocorrelation(values: readonly number[], lag: number): number {
  const n = values.length;
  if (lag <= 0 || lag >= n) return 0;
  const mean = values.reduce((a, x) => a + x, 0) / n;
  let den = 0;
  for (const x of values) den += (x - mean) ** 2;
  if (den === 0) return 0;
  let num = 0;
  for (let i = lag; i < n; i++) num += (values[i]! - mean) * (values[i - lag]! - mean);
  return num / den;
}

/** The season length in points of a daily cycle for windows of `intervalMs` (a weekly one for daily windows); 0 when none fits. */
export function seasonLength(intervalMs: number): number {
  const day = 86_400_000;
  if (intervalMs >= day) return Math.round((7 * day) / intervalMs) >= 2 ? Math.round((7 * day) / intervalMs) : 0;
  const m = Math.round(day / intervalMs);
  return m >= 2 && m <= 10_000 ? m : 0;
}

export interface Seasonality {
  readonly period: number;
  readonly autocorrelation: number;
  readonly seasonal: boolean;
}

/**
 * Whether `values` repeat with `period`: two full cycles at least and an autocorrelation at that lag above
 * 0.3 (and above the 95 % band of white noise, 2/sqrt(n)).
 */
export function detectSeasonality(values: readonly number[], period: number): Seasonality {
  if (period < 2 || values.length < 2 * period) return { period, autocorrelation: 0, seasonal: false };
  const r = autocorrelation(values, period);
  return { period, autocorrelation: r, seasonal: r > Math.max(0.3, 2 / Math.sqrt(values.length)) };
}
