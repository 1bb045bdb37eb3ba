// Event-time window specifications (tumbling and hopping), the assignment of a timestamp to the windows
// and panes that contain it, and per-partition watermarks; pure arithmetic used by the aggregation core.
import { StoqError } from "../../../lib/src/errors.js";

/** The dimensions a window can be keyed by (mirrors the WindowAggregate schema's Dimension enum). */
export const DIMENSIONS = ["global", "node", "registered_domain", "qname", "source", "destination", "flow"] as const;
export type DimensionName = (typeof DIMENSIONS)[number];

export interface WindowSpec {
  /** "1m" for a tumbling window, "1m/10s" for a hopping one. */
  readonly name: string;
  readonly sizeMs: number;
  readonly hopMs: number;
  /** Dimensions kept for this window; keys of other dimensions are not tracked at this size. */
  readonly dimensions: readonly DimensionName[];
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "1s", "1m", "1h", "24h", "7d" into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  const unit = m?.[2] === undefined ? undefined : UNIT_MS[m[2]];
  if (m?.[1] === undefined || unit === undefined || Number(m[1]) <= 0) {
    throw new StoqError("CONFIG_INVALID", `window duration ${JSON.stringify(text)} is invalid; use a positive integer with ms, s, m, h or d (e.g. "1s", "24h")`);
  }
  return Number(m[1]) * unit;
}

/** The config's spelling: whole hours as "24h" (not "1d"), then minutes, seconds, milliseconds. */
export function formatDuration(ms: number): string {
  for (const [u, f] of [["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % f === 0) return `${ms / f}${u}`;
  }
  return `${ms}ms`;
}

export function windowSpec(sizeMs: number, hopMs: number, dimensions: readonly DimensionName[]): WindowSpec {
  if (!(sizeMs > 0) || !(hopMs > 0) || hopMs > sizeMs || sizeMs % hopMs !== 0 || !Number.isInteger(sizeMs) || !Number.isInteger(hopMs)) {
    throw new StoqError("CONFIG_INVALID", `window size ${sizeMs} ms with hop ${hopMs} ms is invalid; the hop must divide the size`);
  }
  if (dimensions.length === 0) throw new StoqError("CONFIG_INVALID", `window ${formatDuration(sizeMs)} has no dimensions`);
  const name = hopMs === sizeMs ? formatDuration(sizeMs) : `${formatDuration(sizeMs)}/${formatDuration(hopMs)}`;
  return { name, sizeMs, hopMs, dimensions: [...new Set(dimensions)] };
}

export function isTumbling(spec: WindowSpec): boolean {
  return spec.hopMs === spec.sizeMs;
}

/** Windows are aligned to the epoch: the latest start at or before t is floor(t / hop) * hop. */
export function lastStartAtOrBefore(t: number, hopMs: number): number {
  return Math.floor(t / hopMs) * hopMs;
}

/**
 * Starts of every window of `spec` that contains t, i.e. start <= t < start + size, earliest first.
 * A tumbling window gives one; a hopping one gives size / hop.
 */
export function windowStartsFor(spec: WindowSpec, t: number): number[] {
  const last = lastStartAtOrBefore(t, spec.hopMs);
  const out: number[] = [];
  for (let s = last - spec.sizeMs + spec.hopMs; s <= last; s += spec.hopMs) out.push(s);
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * The pane length: the largest slice that every window of every spec is a whole number of (gcd of all
 * sizes and hops). Records update only their pane; a closed pane is merged into the windows containing
 * it, so the per-record cost does not grow with the number or the overlap of windows.
 */
export function paneSizeMs(specs: readonly WindowSpec[]): number {
  let g = 0;
  for (const s of specs) g = gcd(gcd(g, s.sizeMs), s.hopMs);
  if (g === 0) throw new StoqError("CONFIG_INVALID", "no window sizes configured");
  return g;
}

/**
 * Watermarks per input partition: the highest event time seen minus the allowed out-of-orderness. The
 * combined watermark is the minimum over partitions that are not idle, so one stalled partition holds
 * windows open only until it has been idle for `idleMs` of processing time.
 */
export class WatermarkTracker {
  private readonly maxEventTime = new Map<number, number>();
  private readonly lastActive = new Map<number, number>();

  constructor(
    readonly outOfOrdernessMs: number,
    readonly idleMs: number,
  ) {}

  /** Records an event time from a partition; `now` is processing time for idleness. */
  observe(partition: number, eventTimeMs: number, now: number): void {
    const prev = this.maxEventTime.get(partition);
    if (prev === undefined || eventTimeMs > prev) this.maxEventTime.set(partition, eventTimeMs);
    this.lastActive.set(partition, now);
  }

  /** The partition's own watermark, -Infinity before its first record. */
  partitionWatermark(partition: number): number {
    const max = this.maxEventTime.get(partition);
    return max === undefined ? -Infinity : max - this.outOfOrdernessMs;
  }

  /** min over the non-idle partitions; -Infinity when none has been seen. */
  watermark(now: number): number {
    let min = Infinity;
    let any = false;
    for (const [p, max] of this.maxEventTime) {
      if (now - (this.lastActive.get(p) ?? now) > this.idleMs) continue;
      any = true;
      const w = max - this.outOfOrdernessMs;
      if (w < min) min = w;
    }
    if (any) return min;
    // Every partition idle: the most advanced one stands for all, so windows still close.
    let max = -Infinity;
    for (const p of this.maxEventTime.keys()) max = Math.max(max, this.partitionWatermark(p));
    return max;
  }

  /**
   * The watermark that closes one partition's windows: its own, or the combined one once it is idle, so
   * a partition with no traffic still emits its open windows.
   */
  effectiveWatermark(partition: number, now: number): number {
    const own = this.partitionWatermark(partition);
    const idle = now - (this.lastActive.get(partition) ?? now) > this.idleMs;
    return idle ? Math.max(own, this.watermark(now)) : own;
  }

  forget(partition: number): void {
    this.maxEventTime.delete(partition);
    this.lastActive.delete(partition);
  }

  /** Restores a partition's progress from a snapshot. */
  restore(partition: number, maxEventTimeMs: number, now: number): void {
    this.maxEventTime.set(partition, maxEventTimeMs);
    this.lastActive.set(partition, now);
  }
}
