// Congestion per destination: retransmissions, zero receive windows and round-trip times rising above the
// destination's own baseline, the three ways a path or a receiver says it cannot keep up.
import type { Anomaly, FlowRecord } from "../../../lib/src/avro.js";
import { clamp01, evidence, toAnomaly } from "./anomaly.js";
import { EwmaBaseline } from "./ewma.js";
import { KeyedWindows, type WindowSlot } from "./event-windows.js";

export type CongestionLevel = "none" | "low" | "medium" | "high";

export interface CongestionAnalysis {
  readonly level: CongestionLevel;
  readonly flows: number;
  readonly packets: number;
  /** Retransmitted / all packets. */
  readonly retransmissionRate: number;
  readonly zeroWindowEvents: number;
  /** Mean handshake RTT of the flows that have one, ms; null without any. */
  readonly rttMs: number | null;
  /** The destination's RTT baseline before this window, ms; null until it has one. */
  readonly rttBaselineMs: number | null;
  /** rttMs / rttBaselineMs; null without both. */
  readonly rttRatio: number | null;
  readonly indicators: readonly string[];
}

export interface CongestionOptions {
  readonly windowMs?: number;
  readonly latenessMs?: number;
  readonly maxDestinations?: number;
  /** Packets a window needs before its rates mean anything (default 200). */
  readonly minPackets?: number;
  readonly learningRate?: number;
  readonly warmupWindows?: number;
}

export interface CongestionTotals {
  flows: number;
  packets: number;
  retransmissions: number;
  zeroWindows: number;
  rttSum: number;
  rttCount: number;
}

export function emptyCongestionTotals(): CongestionTotals {
  return { flows: 0, packets: 0, retransmissions: 0, zeroWindows: 0, rttSum: 0, rttCount: 0 };
}

export function addFlow(s: CongestionTotals, f: FlowRecord): void {
  s.flows++;
  s.packets += f.packets_fwd + f.packets_rev;
  s.retransmissions += f.retransmissions;
  s.zeroWindows += f.zero_window_count;
  if (f.rtt_us !== null && f.rtt_us > 0) {
    s.rttSum += f.rtt_us / 1000;
    s.rttCount++;
  }
}

/**
 * The level from three indicators: retransmissions (2 % low, 5 % medium, 10 % high: TCP throughput falls
 * roughly as 1/sqrt(loss), so 5 % loss costs most of a flow's rate), zero-window events per 1000 packets
 * (1, 5, 20: a receiver that cannot drain its buffer), and RTT over its baseline (1.5x, 2x, 4x: queueing).
 */
export function analyzeCongestion(s: CongestionTotals, rttBaselineMs: number | null, minPackets = 200): CongestionAnalysis {
  const retransmissionRate = s.packets > 0 ? s.retransmissions / s.packets : 0;
  const rttMs = s.rttCount > 0 ? s.rttSum / s.rttCount : null;
  const rttRatio = rttMs !== null && rttBaselineMs !== null && rttBaselineMs > 0 ? rttMs / rttBaselineMs : null;
  const zwPerK = s.packets > 0 ? (1000 * s.zeroWindows) / s.packets : 0;
  const grade = (x: number, [a, b, c]: [number, number, number]) => (x >= c ? 3 : x >= b ? 2 : x >= a ? 1 : 0);
  const indicators: string[] = [];
  let level = 0;
  if (s.packets >= minPackets) {
    const r = grade(retransmissionRate, [0.02, 0.05, 0.1]);
    const z = grade(zwPerK, [1, 5, 20]);
    const q = rttRatio === null ? 0 : grade(rttRatio, [1.5, 2, 4]);
    if (r > 0) indicators.push("retransmissions");
    if (z > 0) indicators.push("zero_window");
    if (q > 0) indicators.push("rtt_rising");
    level = Math.max(r, z, q);
    // Two independent signs of the same trouble are worth one level more.
    if (indicators.length >= 2 && level < 3) level++;
  }
  return {
    level: (["none", "low", "medium", "high"] as const)[level]!,
    flows: s.flows,
    packets: s.packets,
    retransmissionRate,
    zeroWindowEvents: s.zeroWindows,
    rttMs,
    rttBaselineMs,
    rttRatio,
    indicators,
  };
}

interface DestState {
  readonly totals: CongestionTotals;
  fired: boolean;
}

export class CongestionDetector {
  private readonly windows: KeyedWindows<DestState>;
  private readonly rtt = new Map<string, EwmaBaseline>();
  private readonly latest = new Map<string, CongestionAnalysis>();

  constructor(private readonly o: CongestionOptions = {}) {
    this.windows = new KeyedWindows({
      windowMs: o.windowMs ?? 60_000,
      latenessMs: o.latenessMs ?? 305_000,
      maxKeys: o.maxDestinations ?? 100_000,
      create: () => ({ totals: emptyCongestionTotals(), fired: false }),
    });
  }

  /** The last closed window's analysis of `dst`. */
  analysisOf(dst: string): CongestionAnalysis | null {
    return this.latest.get(dst) ?? null;
  }

  observe(f: FlowRecord, out: Anomaly[]): void {
    if (f.protocol !== 6) return;
    const t = f.last_seen_us / 1000;
    const w = this.windows.slot(f.dst_addr, t, (c) => this.closed(c, out));
    this.windows.close((c) => this.closed(c, out));
    if (w !== null) addFlow(w.state.totals, f);
  }

  advance(tMs: number, out: Anomaly[]): void {
    this.windows.advanceTo(tMs);
    this.windows.close((c) => this.closed(c, out));
  }

  flush(out: Anomaly[]): void {
    this.windows.close((c) => this.closed(c, out), true);
  }

  private baselineMs(dst: string): number | null {
    const b = this.rtt.get(dst);
    return b !== undefined && b.n >= (this.o.warmupWindows ?? 10) ? b.mean : null;
  }

  private closed(w: WindowSlot<DestState>, out: Anomaly[]): void {
    const a = analyzeCongestion(w.state.totals, this.baselineMs(w.key), this.o.minPackets);
    if (this.latest.size >= (this.o.maxDestinations ?? 100_000) && !this.latest.has(w.key)) this.latest.delete(this.latest.keys().next().value!);
    this.latest.set(w.key, a);
    if (a.rttMs !== null) {
      let b = this.rtt.get(w.key);
      if (b === undefined) {
        b = new EwmaBaseline(this.o.learningRate ?? 0.01);
        if (this.rtt.size >= (this.o.maxDestinations ?? 100_000)) this.rtt.delete(this.rtt.keys().next().value!);
        this.rtt.set(w.key, b);
      }
      // A congested window is not what normal looks like: keep it out of the baseline.
      if (a.level === "none") b.update(a.rttMs);
    }
    if (a.level !== "medium" && a.level !== "high") return;
    const score = a.level === "high" ? 0.8 : 0.6;
    out.push(
      toAnomaly({
        detector: "flow.congestion",
        entityType: "destination",
        entity: w.key,
        windowStartMs: w.start,
        windowEndMs: w.end,
        score,
        confidence: clamp01(a.packets / 2000) * (a.indicators.length >= 2 ? 0.95 : 0.75),
        evidence: [
          evidence("retransmission_rate", a.retransmissionRate, "fraction"),
          evidence("zero_window_events", a.zeroWindowEvents, "events"),
          evidence("rtt", a.rttMs ?? 0, "ms"),
          evidence("rtt_baseline", a.rttBaselineMs ?? 0, "ms"),
          evidence("rtt_ratio", a.rttRatio ?? 0, "x"),
          evidence("packets", a.packets, "packets"),
          evidence("flows", a.flows, "flows", a.indicators.join(" ")),
        ],
        recommendation: congestionAdvice(w.key, a),
        maxLevel: "high",
      }),
    );
  }
}

/** What to do about a congestion analysis: one sentence per indicator, most telling first. */
export function congestionAdvice(dst: string, a: CongestionAnalysis): string {
  const parts: string[] = [];
  if (a.indicators.includes("retransmissions")) parts.push(`${(a.retransmissionRate * 100).toFixed(1)} % of packets to ${dst} are retransmitted: check the path for a saturated or lossy link (interface errors, queue drops), enable ECN, and consider BBR on the senders.`);
  if (a.indicators.includes("rtt_rising")) parts.push(`RTT to ${dst} is ${a.rttRatio?.toFixed(1)}x its baseline: queues are building (bufferbloat); apply fq_codel/CAKE at the bottleneck or shape bulk transfers below the link rate.`);
  if (a.indicators.includes("zero_window")) parts.push(`${dst} advertised a zero receive window ${a.zeroWindowEvents} times: the receiving application is not draining its socket; raise its receive buffer or find why it stalls.`);
  return parts.join(" ") || `No congestion seen towards ${dst}.`;
}
