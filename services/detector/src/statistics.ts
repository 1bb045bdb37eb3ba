// The seed's StatisticalAnalyzer for any time series of data points: descriptive statistics, EWMA
// z-scores, a robust (median/MAD) detector, Holt-Winters seasonality, CUSUM change points, and trend
// prediction with intervals. Typed and importable by another TypeScript program.
import { changePoints, type ChangePoint } from "./cusum.js";
import { describe, median, type DescriptiveStatistics } from "./descriptive.js";
import { EwmaBaseline } from "./ewma.js";
import { fitSmoothing, forecast } from "./exponential-smoothing.js";
import { robustScale, robustZFrom } from "./robust.js";
import { detectSeasonality, linearTrend, seasonLength, type Seasonality } from "./trend.js";

export interface DataPoint {
  readonly timestampMs: number;
  readonly value: number;
}

export type AnomalyMethod = "ewma" | "robust" | "seasonal" | "change_point";

export interface StatisticalAnomaly {
  readonly index: number;
  readonly timestampMs: number;
  readonly value: number;
  /** What the method expected at this point. */
  readonly expected: number;
  /** z-score (ewma, seasonal), modified z-score (robust) or CUSUM statistic (change_point), in sigmas. */
  readonly score: number;
  readonly direction: "up" | "down";
  readonly methods: readonly AnomalyMethod[];
}

export interface TimeSeriesAnalysis {
  readonly statistics: DescriptiveStatistics;
  /** Median spacing of the timestamps. */
  readonly intervalMs: number;
  /** Least-squares slope in value units per second, and its fit. */
  readonly trend: { readonly slopePerSecond: number; readonly r2: number };
  readonly seasonality: Seasonality;
  readonly changePoints: readonly (ChangePoint & { readonly timestampMs: number })[];
  /** Final state of the EWMA baseline. */
  readonly ewma: { readonly mean: number; readonly stddev: number };
  /** Modified z-score of the last point against the others. */
  readonly lastRobustZ: number;
  readonly anomalies: readonly StatisticalAnomaly[];
}

export interface TrendPrediction {
  readonly method: "holt_winters" | "holt" | "linear" | "constant";
  readonly intervalMs: number;
  readonly coverage: number;
  readonly points: readonly { readonly timestampMs: number; readonly mean: number; readonly lower: number; readonly upper: number }[];
  /** The last point's prediction (at the horizon). */
  readonly atHorizon: { readonly timestampMs: number; readonly mean: number; readonly lower: number; readonly upper: number };
}

/** The seed's trait, as a TypeScript interface (async like the seed, so an implementation may do I/O). */
export interface StatisticalAnalyzer {
  analyzeTimeSeries(data: readonly DataPoint[]): Promise<TimeSeriesAnalysis>;
  detectAnomalies(data: readonly DataPoint[]): Promise<StatisticalAnomaly[]>;
  predictTrends(data: readonly DataPoint[], horizonMs: number): Promise<TrendPrediction>;
  calculateStatistics(data: readonly DataPoint[]): Promise<DescriptiveStatistics>;
}

export interface StatisticalAnalyzerOptions {
  /** z-score at and above which a point is anomalous (config anomaly_threshold, 3.0). */
  readonly threshold?: number;
  /** EWMA weight (config pattern_learning_rate, 0.01). */
  readonly learningRate?: number;
  /** Points an EWMA baseline must have seen before it may flag (config detector.warmup_windows). */
  readonly warmup?: number;
  /** Coverage of prediction intervals (the seed's confidence_interval, 0.95). */
  readonly coverage?: number;
  /** Season length in points; default from the spacing (daily cycle, weekly for daily points). */
  readonly season?: number;
  /** Modified z-score cut-off of the robust detector; default 3.5, Iglewicz and Hoaglin's recommendation. */
  readonly robustThreshold?: number;
}

function sorted(data: readonly DataPoint[]): DataPoint[] {
  return [...data].filter((p) => Number.isFinite(p.value) && Number.isFinite(p.timestampMs)).sort((a, b) => a.timestampMs - b.timestampMs);
}

function spacing(points: readonly DataPoint[]): number {
  if (points.length < 2) return 0;
  const gaps: number[] = [];
  for (let i = 1; i < points.length; i++) gaps.push(points[i]!.timestampMs - points[i - 1]!.timestampMs);
  return median(gaps);
}

export class StoqStatisticalAnalyzer implements StatisticalAnalyzer {
  readonly threshold: number;
  readonly learningRate: number;
  readonly warmup: number;
  readonly coverage: number;
  readonly robustThreshold: number;

  constructor(private readonly o: StatisticalAnalyzerOptions = {}) {
    this.threshold = o.threshold ?? 3;
    this.learningRate = o.learningRate ?? 0.01;
    this.warmup = o.warmup ?? 30;
    this.coverage = o.coverage ?? 0.95;
    this.robustThreshold = o.robustThreshold ?? 3.5;
  }

  calculateStatistics(data: readonly DataPoint[]): Promise<DescriptiveStatistics> {
    return Promise.resolve(describe(data.map((p) => p.value)));
  }

  detectAnomalies(data: readonly DataPoint[]): Promise<StatisticalAnomaly[]> {
    return Promise.resolve(this.anomalies(sorted(data)));
  }

  analyzeTimeSeries(data: readonly DataPoint[]): Promise<TimeSeriesAnalysis> {
    return Promise.resolve(this.analyze(data));
  }

  predictTrends(data: readonly DataPoint[], horizonMs: number): Promise<TrendPrediction> {
    return Promise.resolve(this.predict(data, horizonMs));
  }

  /** Synchronous analyzeTimeSeries, for callers inside a hot loop. */
  analyze(data: readonly DataPoint[]): TimeSeriesAnalysis {
    const points = sorted(data);
    const values = points.map((p) => p.value);
    const intervalMs = spacing(points);
    const lt = linearTrend(
      points.map((p) => p.timestampMs),
      values,
    );
    const season = this.seasonFor(intervalMs);
    const ewma = new EwmaBaseline(this.learningRate);
    for (const v of values) ewma.update(v);
    const scale = robustScale(values.slice(0, -1));
    return {
      statistics: describe(values),
      intervalMs,
      trend: { slopePerSecond: lt.slope * 1000, r2: lt.r2 },
      seasonality: detectSeasonality(values, season),
      changePoints: changePoints(values).map((c) => ({ ...c, timestampMs: points[c.index]!.timestampMs })),
      ewma: { mean: ewma.mean, stddev: Math.sqrt(ewma.variance) },
      lastRobustZ: values.length > 3 ? robustZFrom(scale, values[values.length - 1]!) : 0,
      anomalies: this.anomalies(points),
    };
  }

  /** Synchronous predictTrends. */
  predict(data: readonly DataPoint[], horizonMs: number): TrendPrediction {
    const points = sorted(data);
    const values = points.map((p) => p.value);
    const intervalMs = spacing(points) || 1000;
    const steps = Math.max(1, Math.round(horizonMs / intervalMs));
    const last = points[points.length - 1]?.timestampMs ?? 0;
    const at = (step: number) => last + step * intervalMs;
    let method: TrendPrediction["method"];
    let fc: { step: number; mean: number; lower: number; upper: number }[];
    if (values.length < 3) {
      method = "constant";
      const v = values[values.length - 1] ?? 0;
      fc = Array.from({ length: steps }, (_, i) => ({ step: i + 1, mean: v, lower: -Infinity, upper: Infinity }));
    } else {
      const season = this.seasonFor(intervalMs);
      const seasonal = detectSeasonality(values, season).seasonal;
      method = seasonal ? "holt_winters" : "holt";
      fc = forecast(fitSmoothing(values, seasonal ? season : 0), steps, this.coverage);
    }
    const out = fc.map((f) => ({ timestampMs: at(f.step), mean: f.mean, lower: f.lower, upper: f.upper }));
    return { method, intervalMs, coverage: this.coverage, points: out, atHorizon: out[out.length - 1]! };
  }

  private seasonFor(intervalMs: number): number {
    return this.o.season ?? (intervalMs > 0 ? seasonLength(intervalMs) : 0);
  }

  /**
   * Every method over the series, merged per point: EWMA z-scores (sequential, after warm-up, each point
   * against the baseline before it), modified z-scores against the whole series, Holt-Winters one-step
   * residuals when the series is seasonal, and CUSUM change points (reported at the first shifted point).
   */
  private anomalies(points: readonly DataPoint[]): StatisticalAnomaly[] {
    const values = points.map((p) => p.value);
    const found = new Map<number, { expected: number; score: number; direction: "up" | "down"; methods: Set<AnomalyMethod> }>();
    const add = (i: number, method: AnomalyMethod, expected: number, score: number): void => {
      const direction = values[i]! >= expected ? "up" : "down";
      const f = found.get(i);
      if (f === undefined) found.set(i, { expected, score, direction, methods: new Set([method]) });
      else {
        f.methods.add(method);
        if (Math.abs(score) > Math.abs(f.score)) Object.assign(f, { expected, score, direction });
      }
    };
    const ewma = new EwmaBaseline(this.learningRate);
    for (let i = 0; i < values.length; i++) {
      if (ewma.n >= this.warmup) {
        const d = ewma.deviation(values[i]!, 1e-12);
        if (Math.abs(d.z) >= this.threshold && ewma.variance > 0) add(i, "ewma", d.mean, d.z);
      }
      ewma.update(values[i]!);
    }
    if (values.length >= 5) {
      const scale = robustScale(values);
      for (let i = 0; i < values.length; i++) {
        const z = robustZFrom(scale, values[i]!);
        if (Math.abs(z) >= this.robustThreshold) add(i, "robust", scale.median, z);
      }
    }
    const season = this.seasonFor(spacing(points));
    if (season > 0 && detectSeasonality(values, season).seasonal) {
      const fit = fitSmoothing(values, season);
      const sd = Math.sqrt(fit.sigma2);
      if (sd > 0) {
        for (let i = 0; i < values.length; i++) {
          const f = fit.fitted[i]!;
          if (!Number.isNaN(f) && Math.abs(values[i]! - f) / sd >= this.threshold) add(i, "seasonal", f, (values[i]! - f) / sd);
        }
      }
    }
    for (const c of changePoints(values)) add(c.index, "change_point", c.reference, c.direction === "up" ? c.statistic : -c.statistic);
    return [...found.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([i, f]) => ({ index: i, timestampMs: points[i]!.timestampMs, value: values[i]!, expected: f.expected, score: f.score, direction: f.direction, methods: [...f.methods].sort() }));
  }
}
