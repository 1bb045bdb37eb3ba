// Change-point detection by the two-sided tabular CUSUM (Page 1954): the cumulative excess of standardised
// values over a slack k, alarming past a decision interval h. Finds sustained shifts that no single value
// makes an outlier.
import { robustScale } from "./robust.js";

export interface CusumOptions {
  /** Slack in sigmas: shifts smaller than about 2k are ignored. Default 0.5 (tuned for a 1-sigma shift). */
  readonly k?: number;
  /** Decision interval in sigmas. Default 5: in-control run length ~ 930 values between false alarms. */
  readonly h?: number;
  /**
   * Each standardised value is clipped to +-clip before it is summed (default 3), so one spike, the robust
   * and EWMA detectors' business, cannot raise a change-point alarm on its own.
   */
  readonly clip?: number;
}

export interface ChangePoint {
  /** Index of the first value of the shifted run (where the alarming sum last left zero). */
  readonly index: number;
  /** Index at which the alarm was raised. */
  readonly alarmIndex: number;
  readonly direction: "up" | "down";
  /** The in-control mean the run is compared with. */
  readonly reference: number;
  /** Mean of the run from `index` to `alarmIndex` minus the reference mean, in the series' unit. */
  readonly shift: number;
  /** The CUSUM statistic at the alarm, in sigmas. */
  readonly statistic: number;
}

/** Streaming two-sided CUSUM against a fixed reference mean and sigma; resets after each alarm. */
export class Cusum {
  private readonly k: number;
  private readonly h: number;
  private readonly clip: number;
  private hi = 0;
  private lo = 0;
  private hiStart = 0;
  private loStart = 0;
  private hiSum = 0;
  private loSum = 0;
  private i = 0;

  constructor(
    private readonly mean: number,
    private readonly sigma: number,
    o: CusumOptions = {},
  ) {
    this.k = o.k ?? 0.5;
    this.h = o.h ?? 5;
    this.clip = o.clip ?? 3;
    if (!(sigma > 0)) throw new RangeError(`CUSUM sigma ${sigma} must be positive`);
  }

  /** Adds the next value; returns a change point when it raises an alarm. */
  update(x: number): ChangePoint | null {
    const i = this.i++;
    const z = Math.max(-this.clip, Math.min(this.clip, (x - this.mean) / this.sigma));
    if (this.hi === 0) {
      this.hiStart = i;
      this.hiSum = 0;
    }
    if (this.lo === 0) {
      this.loStart = i;
      this.loSum = 0;
    }
    this.hi = Math.max(0, this.hi + z - this.k);
    this.lo = Math.max(0, this.lo - z - this.k);
    this.hiSum += x;
    this.loSum += x;
    if (this.hi > this.h) return this.alarm("up", this.hiStart, i, this.hiSum, this.hi);
    if (this.lo > this.h) return this.alarm("down", this.loStart, i, this.loSum, this.lo);
    return null;
  }

  private alarm(direction: "up" | "down", start: number, i: number, sum: number, statistic: number): ChangePoint {
    const cp = { index: start, alarmIndex: i, direction, reference: this.mean, shift: sum / (i - start + 1) - this.mean, statistic };
    this.hi = 0;
    this.lo = 0;
    return cp;
  }
}

/**
 * Change points of a whole series. The reference is the median and MAD-sigma of the first `reference`
 * values (default: a quarter of the series, at least 8), robust to a spike inside it; after an alarm the
 * reference moves to the new level, so a series with several steps reports each.
 */
export function changePoints(values: readonly number[], o: CusumOptions & { reference?: number } = {}): ChangePoint[] {
  const ref = Math.max(8, o.reference ?? Math.floor(values.length / 4));
  if (values.length < ref + 2) return [];
  const out: ChangePoint[] = [];
  let from = 0;
  while (from + ref < values.length) {
    const { median: mean, sigma: robustSigma } = robustScale(values.slice(from, from + ref));
    // A flat reference would make any change infinite: floor sigma at a small share of the level.
    const sigma = Math.max(robustSigma, Math.abs(mean) * 0.01, 1e-9);
    const c = new Cusum(mean, sigma, o);
    let found: ChangePoint | null = null;
    for (let i = from + ref; i < values.length; i++) {
      const cp = c.update(values[i]!);
      if (cp !== null) {
        found = { ...cp, index: cp.index + from + ref, alarmIndex: cp.alarmIndex + from + ref };
        break;
      }
    }
    if (found === null) break;
    out.push(found);
    from = found.index;
  }
  return out;
}
