// Forecasting by exponential smoothing with prediction intervals: Holt's linear trend and additive
// Holt-Winters for daily cycles (1h windows: season 24; 24h windows: season 7). Intervals follow the
// state-space form of Hyndman, Koehler, Ord and Snyder (2008), class 1: var(h) = s2 (1 + sum c_j^2).

export interface SmoothingParams {
  readonly alpha: number;
  readonly beta: number;
  /** 0 and season 0 for Holt's linear method. */
  readonly gamma: number;
  readonly season: number;
}

export interface SmoothingFit {
  readonly params: SmoothingParams;
  readonly level: number;
  readonly trend: number;
  /** Seasonal indices, the next one to apply first. Empty without a season. */
  readonly seasonal: readonly number[];
  /** One-step-ahead errors over the fitted range. */
  readonly residuals: readonly number[];
  /** Variance of the one-step errors. */
  readonly sigma2: number;
  /** One-step-ahead fitted values, aligned with the input (NaN where the initialisation used the data). */
  readonly fitted: readonly number[];
}

export interface ForecastPoint {
  /** Steps ahead, 1-based. */
  readonly step: number;
  readonly mean: number;
  readonly lower: number;
  readonly upper: number;
}

/** z for a two-sided interval of the given coverage (0.8, 0.9, 0.95, 0.99; nearest otherwise). */
export function zForCoverage(coverage: number): number {
  const table: [number, number][] = [
    [0.8, 1.2816],
    [0.9, 1.6449],
    [0.95, 1.96],
    [0.98, 2.3263],
    [0.99, 2.5758],
    [0.999, 3.2905],
  ];
  let best = table[2]!;
  for (const t of table) if (Math.abs(t[0] - coverage) < Math.abs(best[0] - coverage)) best = t;
  return best[1];
}

/** Runs the recursions with fixed parameters. Needs 2 values (Holt) or 2 full seasons (Holt-Winters). */
export function smooth(values: readonly number[], p: SmoothingParams): SmoothingFit {
  const m = p.season;
  if (m > 0 && values.length < 2 * m) throw new RangeError(`Holt-Winters with season ${m} needs ${2 * m} values, got ${values.length}`);
  if (values.length < 2) throw new RangeError(`exponential smoothing needs 2 values, got ${values.length}`);
  let level: number;
  let trend: number;
  let seasonal: number[] = [];
  let start: number;
  if (m > 0) {
    // Classical initialisation: level = mean of season 1, trend = mean change between seasons 1 and 2,
    // seasonal indices = season 1 minus its mean.
    const s1 = values.slice(0, m);
    const s2 = values.slice(m, 2 * m);
    const mean1 = s1.reduce((a, x) => a + x, 0) / m;
    const mean2 = s2.reduce((a, x) => a + x, 0) / m;
    level = mean1;
    trend = (mean2 - mean1) / m;
    seasonal = s1.map((x) => x - mean1);
    start = m;
  } else {
    level = values[0]!;
    trend = values[1]! - values[0]!;
    start = 1;
  }
  const fitted: number[] = new Array<number>(values.length).fill(NaN);
  const residuals: number[] = [];
  for (let t = start; t < values.length; t++) {
    const s = m > 0 ? seasonal[(t - start) % m]! : 0;
    const yhat = level + trend + s;
    const y = values[t]!;
    fitted[t] = yhat;
    residuals.push(y - yhat);
    const prevLevel = level;
    level = p.alpha * (y - s) + (1 - p.alpha) * (level + trend);
    trend = p.beta * (level - prevLevel) + (1 - p.beta) * trend;
    if (m > 0) seasonal[(t - start) % m] = p.gamma * (y - level) + (1 - p.gamma) * s;
  }
  if (m > 0) {
    const next = (values.length - start) % m;
    seasonal = seasonal.slice(next).concat(seasonal.slice(0, next));
  }
  const sigma2 = residuals.length > 0 ? residuals.reduce((a, e) => a + e * e, 0) / residuals.length : 0;
  return { params: p, level, trend, seasonal, residuals, sigma2, fitted };
}

/** Point forecasts and `coverage` prediction intervals for steps 1..h. */
export function forecast(fit: SmoothingFit, h: number, coverage = 0.95): ForecastPoint[] {
  const { alpha, beta, gamma, season: m } = fit.params;
  const z = zForCoverage(coverage);
  const out: ForecastPoint[] = [];
  let sumC2 = 0;
  for (let step = 1; step <= h; step++) {
    const s = m > 0 ? fit.seasonal[(step - 1) % m]! : 0;
    const mean = fit.level + step * fit.trend + s;
    const sd = Math.sqrt(fit.sigma2 * (1 + sumC2));
    out.push({ step, mean, lower: mean - z * sd, upper: mean + z * sd });
    // c_j for the next step's variance: the weight the j-step-old error still has in the forecast.
    const j = step;
    const c = alpha * (1 + j * beta) + (m > 0 && j % m === 0 ? gamma : 0);
    sumC2 += c * c;
  }
  return out;
}

const ALPHAS = [0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
const BETAS = [0, 0.01, 0.05, 0.1, 0.2];
const GAMMAS = [0.05, 0.1, 0.2, 0.4];

/**
 * Fits by grid search on the one-step squared error (120 or 30 candidate fits: small enough to run per
 * series, and exponential smoothing is flat enough near its optimum that a coarse grid loses little).
 */
export function fitSmoothing(values: readonly number[], season = 0): SmoothingFit {
  let best: SmoothingFit | null = null;
  for (const alpha of ALPHAS) {
    for (const beta of BETAS) {
      for (const gamma of season > 0 ? GAMMAS : [0]) {
        const f = smooth(values, { alpha, beta, gamma, season });
        if (best === null || f.sigma2 < best.sigma2) best = f;
      }
    }
  }
  return best!;
}
