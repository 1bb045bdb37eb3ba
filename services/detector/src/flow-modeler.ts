// The seed's NetworkFlowModeler over flow records: FlowStatistics of a set of flows, bandwidth prediction
// 60 s ahead with a 95 % interval, congestion analysis, optimisation recommendations, and the streaming
// flow detectors (port scans, SYN floods, congestion) with the bandwidth series they feed.
import type { Anomaly, FlowRecord, FlowStatistics } from "../../../lib/src/avro.js";
import { BandwidthPredictor, type BandwidthPrediction } from "./bandwidth.js";
import { addFlow, analyzeCongestion, CongestionDetector, emptyCongestionTotals, type CongestionAnalysis, type CongestionOptions } from "./congestion.js";
import { PortScanDetector, type PortScanOptions } from "./port-scan.js";
import { SynFloodDetector, type SynFloodOptions } from "./syn-flood.js";

/** Flow-duration histogram bounds (ms), as the aggregator's: sub-second to over an hour. */
export const DURATION_BOUNDS_MS = [1, 10, 100, 1000, 10_000, 60_000, 300_000, 3_600_000];

export interface Optimization {
  readonly kind: "shape_bulk" | "congestion_control" | "queue_management" | "receiver_buffers" | "mtu_batching" | "capacity" | "none";
  readonly priority: "low" | "medium" | "high";
  readonly action: string;
  readonly reason: string;
}

export interface FlowModel {
  readonly statistics: FlowStatistics;
  readonly bandwidthPrediction: BandwidthPrediction | null;
  readonly congestion: CongestionAnalysis;
  readonly optimizations: readonly Optimization[];
  /** The seed's confidence_interval: coverage of the prediction interval. */
  readonly confidenceInterval: number;
}

/** The seed's trait. */
export interface NetworkFlowModeler {
  modelFlowStatistics(flows: readonly FlowRecord[]): Promise<FlowStatistics>;
  predictBandwidthUsage(flows: readonly FlowRecord[], horizonMs: number): Promise<BandwidthPrediction | null>;
  detectCongestion(flows: readonly FlowRecord[]): Promise<CongestionAnalysis>;
}

export interface FlowModelerOptions {
  readonly scan?: PortScanOptions;
  readonly synFlood?: SynFloodOptions;
  readonly congestion?: CongestionOptions;
  /** statistical_analysis.network_flow_modeling.congestion_detection */
  readonly congestionDetection?: boolean;
  /** Link capacity for bandwidth_utilization (config performance.target_throughput_gbps); null: raw bit/s. */
  readonly linkCapacityBps?: number | null;
  readonly coverage?: number;
}

export function flowStatistics(flows: readonly FlowRecord[], linkCapacityBps: number | null = null): FlowStatistics {
  let packets = 0;
  let bytes = 0;
  let sumsq = 0;
  let first = Infinity;
  let last = -Infinity;
  let iatN = 0;
  let iatSum = 0;
  let iatSumSq = 0;
  let iatMin = Infinity;
  let iatMax = -Infinity;
  const counts = new Array<number>(DURATION_BOUNDS_MS.length + 1).fill(0);
  for (const f of flows) {
    const p = f.packets_fwd + f.packets_rev;
    packets += p;
    bytes += f.size_sum;
    sumsq += f.size_sumsq;
    first = Math.min(first, f.first_seen_us);
    last = Math.max(last, f.last_seen_us);
    const durMs = (f.last_seen_us - f.first_seen_us) / 1000;
    const bucket = DURATION_BOUNDS_MS.findIndex((b) => durMs <= b);
    counts[bucket === -1 ? DURATION_BOUNDS_MS.length : bucket]!++;
    if (p >= 2) {
      iatN += p - 1;
      iatSum += f.iat_sum_us;
      iatSumSq += f.iat_sumsq_us2;
      iatMin = Math.min(iatMin, f.iat_min_us ?? f.iat_sum_us / (p - 1));
      iatMax = Math.max(iatMax, f.iat_max_us ?? f.iat_sum_us / (p - 1));
    }
  }
  const seconds = Number.isFinite(first) ? Math.max(0.001, (last - first) / 1e6) : 1;
  const mean = packets > 0 ? bytes / packets : 0;
  const iatMean = iatN > 0 ? iatSum / iatN : 0;
  const bps = (bytes * 8) / seconds;
  return {
    mean_packet_size: mean,
    variance_packet_size: packets > 0 ? Math.max(0, sumsq / packets - mean * mean) : 0,
    packet_rate_per_second: packets / seconds,
    bandwidth_utilization: linkCapacityBps !== null && linkCapacityBps > 0 ? bps / linkCapacityBps : bps,
    link_capacity_bps: linkCapacityBps,
    flow_duration_histogram: { upper_bounds: [...DURATION_BOUNDS_MS], counts },
    inter_arrival_time_distribution: {
      count: iatN,
      mean: iatMean,
      variance: iatN > 0 ? Math.max(0, iatSumSq / iatN - iatMean * iatMean) : 0,
      min: iatN > 0 ? iatMin : 0,
      max: iatN > 0 ? iatMax : 0,
    },
  };
}

/**
 * What to change, from the statistics, the congestion analysis and the bandwidth forecast: each rule says
 * the observation it rests on.
 */
export function recommendOptimizations(stats: FlowStatistics, congestion: CongestionAnalysis, prediction: BandwidthPrediction | null): Optimization[] {
  const out: Optimization[] = [];
  const cap = stats.link_capacity_bps;
  if (cap !== null && prediction !== null && prediction.upperBps > 0.9 * cap) {
    out.push({
      kind: "capacity",
      priority: prediction.predictedBps > 0.9 * cap ? "high" : "medium",
      action: "add capacity or move bulk transfers off-peak before the link saturates",
      reason: `the 95 % upper bound of the bandwidth in ${prediction.horizonMs / 1000} s is ${((100 * prediction.upperBps) / cap).toFixed(0)} % of the link`,
    });
  }
  if (congestion.indicators.includes("retransmissions")) {
    out.push({ kind: "congestion_control", priority: congestion.level === "high" ? "high" : "medium", action: "enable ECN and a delay-based congestion control (BBR) on the senders; look for lossy links", reason: `${(congestion.retransmissionRate * 100).toFixed(1)} % of packets retransmitted` });
  }
  if (congestion.indicators.includes("rtt_rising")) {
    out.push({ kind: "queue_management", priority: congestion.level === "high" ? "high" : "medium", action: "apply fq_codel or CAKE at the bottleneck and shape bulk flows just below the link rate", reason: `RTT ${congestion.rttRatio?.toFixed(1)}x its baseline` });
  }
  if (congestion.indicators.includes("zero_window")) {
    out.push({ kind: "receiver_buffers", priority: "medium", action: "raise the receivers' socket buffers or fix the stalled application", reason: `${congestion.zeroWindowEvents} zero-window events` });
  }
  const hist = stats.flow_duration_histogram.counts;
  const longFlows = (hist[hist.length - 1] ?? 0) + (hist[hist.length - 2] ?? 0);
  const total = hist.reduce((a, x) => a + x, 0);
  if (total > 0 && longFlows / total > 0.1 && stats.mean_packet_size > 1000) {
    out.push({ kind: "shape_bulk", priority: "low", action: "put long bulk flows in a lower-priority class so short interactive flows are not queued behind them", reason: `${((100 * longFlows) / total).toFixed(0)} % of flows last over 5 minutes with ${stats.mean_packet_size.toFixed(0)}-byte packets` });
  }
  if (stats.packet_rate_per_second > 10_000 && stats.mean_packet_size < 200) {
    out.push({ kind: "mtu_batching", priority: "low", action: "batch small writes (Nagle/GSO) or raise the MTU on the paths carrying them", reason: `${stats.packet_rate_per_second.toFixed(0)} packets/s averaging ${stats.mean_packet_size.toFixed(0)} bytes` });
  }
  if (out.length === 0) out.push({ kind: "none", priority: "low", action: "nothing to change", reason: "no congestion, no capacity pressure, no pathological packet sizes" });
  return out;
}

export class FlowModeler implements NetworkFlowModeler {
  private readonly scan: PortScanDetector;
  private readonly flood: SynFloodDetector;
  private readonly congestion: CongestionDetector | null;
  readonly bandwidth = new BandwidthPredictor();
  private readonly linkCapacityBps: number | null;
  private readonly coverage: number;

  constructor(private readonly o: FlowModelerOptions = {}) {
    this.flood = new SynFloodDetector(o.synFlood);
    this.scan = new PortScanDetector({ ...o.scan, flooded: (dst, t) => this.flood.flooded(dst, t) });
    this.congestion = o.congestionDetection === false ? null : new CongestionDetector(o.congestion);
    this.linkCapacityBps = o.linkCapacityBps ?? null;
    this.coverage = o.coverage ?? 0.95;
  }

  /** Streams one flow record through every flow detector and into the bandwidth series. */
  observe(f: FlowRecord, out: Anomaly[]): void {
    this.flood.observe(f, out);
    this.scan.observe(f, out);
    this.congestion?.observe(f, out);
    this.bandwidth.add(f.first_seen_us / 1000, f.last_seen_us / 1000, f.bytes_fwd + f.bytes_rev);
  }

  /**
   * Streams records that became available together (one Kafka batch, one timeout sweep): the flood
   * detector sees them all first, so the scan detector knows which destinations they flood.
   */
  observeBatch(flows: readonly FlowRecord[], out: Anomaly[]): void {
    for (const f of flows) this.flood.observe(f, out);
    for (const f of flows) {
      this.scan.observe(f, out);
      this.congestion?.observe(f, out);
      this.bandwidth.add(f.first_seen_us / 1000, f.last_seen_us / 1000, f.bytes_fwd + f.bytes_rev);
    }
  }

  advance(tMs: number, out: Anomaly[]): void {
    this.flood.advance(tMs, out);
    this.scan.advance(tMs, out);
    this.congestion?.advance(tMs, out);
    this.bandwidth.advanceTo(tMs);
  }

  flush(out: Anomaly[]): void {
    this.flood.flush(out);
    this.scan.flush(out);
    this.congestion?.flush(out);
  }

  /** The streaming bandwidth forecast (null before any traffic). */
  predictBandwidth(horizonMs = 60_000): BandwidthPrediction | null {
    return this.bandwidth.predict(horizonMs, this.coverage);
  }

  /** Last closed window's congestion analysis towards `dst`. */
  congestionOf(dst: string): CongestionAnalysis | null {
    return this.congestion?.analysisOf(dst) ?? null;
  }

  modelFlowStatistics(flows: readonly FlowRecord[]): Promise<FlowStatistics> {
    return Promise.resolve(flowStatistics(flows, this.linkCapacityBps));
  }

  predictBandwidthUsage(flows: readonly FlowRecord[], horizonMs: number): Promise<BandwidthPrediction | null> {
    const p = new BandwidthPredictor({ latenessMs: 0 });
    let last = -Infinity;
    for (const f of flows) {
      p.add(f.first_seen_us / 1000, f.last_seen_us / 1000, f.bytes_fwd + f.bytes_rev);
      last = Math.max(last, f.last_seen_us / 1000);
    }
    // Every flow is in: the second holding the last one is complete too.
    p.advanceTo(last + 1000);
    return Promise.resolve(p.predict(horizonMs, this.coverage));
  }

  detectCongestion(flows: readonly FlowRecord[]): Promise<CongestionAnalysis> {
    const t = emptyCongestionTotals();
    for (const f of flows) if (f.protocol === 6) addFlow(t, f);
    return Promise.resolve(analyzeCongestion(t, null, this.o.congestion?.minPackets));
  }

  /** The seed's model_flow: statistics, 60 s bandwidth forecast, congestion and what to do, for a set of flows. */
  async modelFlows(flows: readonly FlowRecord[], horizonMs = 60_000): Promise<FlowModel> {
    const statistics = await this.modelFlowStatistics(flows);
    const bandwidthPrediction = await this.predictBandwidthUsage(flows, horizonMs);
    const congestion = await this.detectCongestion(flows);
    return {
      statistics,
      bandwidthPrediction,
      congestion,
      optimizations: recommendOptimizations(statistics, congestion, bandwidthPrediction),
      confidenceInterval: this.coverage,
    };
  }
}
