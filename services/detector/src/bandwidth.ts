// Bandwidth prediction: bits per second in one-second buckets (each flow's bytes spread over its
// lifetime), forecast 60 s ahead by Holt's method with a 95 % prediction interval (the seed's
// confidence_interval). A bucket is used once the watermark has passed it.
import { fitSmoothing, forecast } from "./exponential-smoothing.js";

export interface BandwidthPrediction {
  readonly horizonMs: number;
  readonly coverage: number;
  /** Event time the prediction is for (last complete second + horizon). */
  readonly atMs: number;
  readonly predictedBps: number;
  readonly lowerBps: number;
  readonly upperBps: number;
  /** Mean over the last 10 complete seconds. */
  readonly currentBps: number;
  /** Complete seconds the fit used. */
  readonly history: number;
  readonly method: "holt" | "constant";
}

export interface BandwidthOptions {
  readonly bucketMs?: number;
  /** Buckets kept (default 600: ten minutes of seconds). */
  readonly history?: number;
  /** How long after a second flows ending in it may still arrive (default 5 s). */
  readonly latenessMs?: number;
}

export class BandwidthPredictor {
  private readonly bucketMs: number;
  private readonly history: number;
  private readonly latenessMs: number;
  /** Bytes per bucket start. */
  private readonly buckets = new Map<number, number>();
  private maxTime = -Infinity;
  private firstBucket = Infinity;

  constructor(o: BandwidthOptions = {}) {
    this.bucketMs = o.bucketMs ?? 1000;
    this.history = o.history ?? 600;
    this.latenessMs = o.latenessMs ?? 5000;
  }

  /** Adds `bytes` carried between `fromMs` and `toMs`, spread evenly over the buckets they cover. */
  add(fromMs: number, toMs: number, bytes: number): void {
    if (!(bytes > 0)) return;
    const to = Math.max(fromMs, toMs);
    this.maxTime = Math.max(this.maxTime, to);
    const oldest = this.bucketOf(this.maxTime) - this.history * this.bucketMs;
    const from = Math.max(fromMs, oldest);
    if (to < from) return;
    const span = to - fromMs;
    for (let b = this.bucketOf(from); b <= to; b += this.bucketMs) {
      const overlap = span === 0 ? 1 : (Math.min(to, b + this.bucketMs) - Math.max(fromMs, b)) / span;
      if (overlap <= 0) continue;
      this.buckets.set(b, (this.buckets.get(b) ?? 0) + bytes * overlap);
      if (b < this.firstBucket) this.firstBucket = b;
    }
    if (this.firstBucket < oldest) {
      for (const b of this.buckets.keys()) if (b < oldest) this.buckets.delete(b);
      this.firstBucket = oldest;
    }
  }

  advanceTo(tMs: number): void {
    this.maxTime = Math.max(this.maxTime, tMs);
  }

  /** Bits per second of each complete bucket, oldest first, from the first bucket with traffic. */
  series(): { startMs: number; bps: number[] } {
    const lastComplete = this.bucketOf(this.maxTime - this.latenessMs) - this.bucketMs;
    const bps: number[] = [];
    if (!Number.isFinite(this.firstBucket)) return { startMs: lastComplete, bps };
    for (let b = this.firstBucket; b <= lastComplete; b += this.bucketMs) bps.push(((this.buckets.get(b) ?? 0) * 8 * 1000) / this.bucketMs);
    return { startMs: this.firstBucket, bps };
  }

  predict(horizonMs = 60_000, coverage = 0.95): BandwidthPrediction | null {
    const { startMs, bps } = this.series();
    if (bps.length === 0) return null;
    const steps = Math.max(1, Math.round(horizonMs / this.bucketMs));
    const atMs = startMs + (bps.length - 1 + steps) * this.bucketMs;
    const recent = bps.slice(-10);
    const currentBps = recent.reduce((a, x) => a + x, 0) / recent.length;
    if (bps.length < 10) {
      return { horizonMs, coverage, atMs, predictedBps: currentBps, lowerBps: 0, upperBps: Infinity, currentBps, history: bps.length, method: "constant" };
    }
    const f = forecast(fitSmoothing(bps, 0), steps, coverage)[steps - 1]!;
    return { horizonMs, coverage, atMs, predictedBps: Math.max(0, f.mean), lowerBps: Math.max(0, f.lower), upperBps: Math.max(0, f.upper), currentBps, history: bps.length, method: "holt" };
  }

  private bucketOf(t: number): number {
    return t - (((t % this.bucketMs) + this.bucketMs) % this.bucketMs);
  }
}
