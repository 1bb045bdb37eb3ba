// The rich statistics kept for the few low-cardinality keys of a window (global and per node): quantile
// sketches (DDSketch), distinct counts (HyperLogLog) and the seed's FlowStatistics. Every part merges
// exactly, so a window built from panes equals one built from the records directly.
import { LogCollapsingLowestDenseDDSketch } from "@datadog/sketches-js";
import { HyperLogLog } from "../../../lib/src/hyperloglog.js";
import { addSample, emptyMoments, mergeMoments, momentsFromSums, variance, type Moments } from "../../../lib/src/welford.js";
import type { Distribution, FlowStatistics, MeasureSummary } from "../../../lib/src/avro.js";

/** DDSketch relative accuracy: every reported quantile is within 1% of a true sample value. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
// 2048 bins at 1% cover 17 decades before the lowest bins collapse, so memory stays bounded.
const SKETCH_BIN_LIMIT = 2048;
/** HyperLogLog precision 12: 4 KiB per counter, 1.6% standard error. */
export const HLL_PRECISION = 12;
/** Flow-duration histogram bucket upper bounds in milliseconds; the last bucket is unbounded. */
export const FLOW_DURATION_BOUNDS_MS = [1, 10, 100, 1000, 10_000, 60_000, 300_000, 3_600_000] as const;

export type QuantileSketch = LogCollapsingLowestDenseDDSketch;

export function newSketch(): QuantileSketch {
  return new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY, binLimit: SKETCH_BIN_LIMIT });
}

export function measureSummary(name: string, m: Moments, sketch: QuantileSketch | null): MeasureSummary {
  const q = (p: number): number | null => (sketch !== null && sketch.count > 0 ? sketch.getValueAtQuantile(p) : null);
  return {
    name,
    count: m.n,
    mean: m.n > 0 ? m.mean : 0,
    variance: variance(m),
    min: m.n > 0 ? m.min : 0,
    max: m.n > 0 ? m.max : 0,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
  };
}

/** DNS: response-time quantiles, message-size and name-length moments, distinct names and peers. */
export class DnsSummary {
  readonly kind = "dns";
  responses = 0;
  readonly responseTime: QuantileSketch = newSketch();
  readonly querySize: Moments = emptyMoments();
  readonly responseSize: Moments = emptyMoments();
  readonly qnameLength: Moments = emptyMoments();
  readonly domains = new HyperLogLog(HLL_PRECISION);
  readonly qnames = new HyperLogLog(HLL_PRECISION);
  readonly sources = new HyperLogLog(HLL_PRECISION);
  readonly destinations = new HyperLogLog(HLL_PRECISION);

  merge(o: DnsSummary): void {
    this.responses += o.responses;
    if (o.responseTime.count > 0) this.responseTime.merge(o.responseTime);
    mergeMoments(this.querySize, o.querySize);
    mergeMoments(this.responseSize, o.responseSize);
    mergeMoments(this.qnameLength, o.qnameLength);
    this.domains.merge(o.domains);
    this.qnames.merge(o.qnames);
    this.sources.merge(o.sources);
    this.destinations.merge(o.destinations);
  }
}

/** Flows: the seed's FlowStatistics inputs (durations, inter-arrival times, volume) and distinct peers. */
export class FlowSummary {
  readonly kind = "flow";
  bytes = 0;
  readonly duration: Moments = emptyMoments();
  readonly durationSketch: QuantileSketch = newSketch();
  readonly durationHistogram = new Float64Array(FLOW_DURATION_BOUNDS_MS.length + 1);
  readonly interArrival: Moments = emptyMoments();
  readonly flows = new HyperLogLog(HLL_PRECISION);
  readonly sources = new HyperLogLog(HLL_PRECISION);
  readonly destinations = new HyperLogLog(HLL_PRECISION);

  addDuration(ms: number): void {
    addSample(this.duration, ms);
    this.durationSketch.accept(ms);
    let b = 0;
    while (b < FLOW_DURATION_BOUNDS_MS.length && ms > (FLOW_DURATION_BOUNDS_MS[b] ?? Infinity)) b++;
    this.durationHistogram[b] = (this.durationHistogram[b] ?? 0) + 1;
  }

  /** A flow's inter-arrival sums (packets - 1 samples) folded in exactly. */
  addInterArrival(samples: number, sumUs: number, sumSquaresUs: number, minUs: number, maxUs: number): void {
    if (samples > 0) mergeMoments(this.interArrival, momentsFromSums(samples, sumUs, sumSquaresUs, minUs, maxUs));
  }

  merge(o: FlowSummary): void {
    this.bytes += o.bytes;
    mergeMoments(this.duration, o.duration);
    if (o.durationSketch.count > 0) this.durationSketch.merge(o.durationSketch);
    for (let i = 0; i < this.durationHistogram.length; i++) this.durationHistogram[i] = (this.durationHistogram[i] ?? 0) + (o.durationHistogram[i] ?? 0);
    mergeMoments(this.interArrival, o.interArrival);
    this.flows.merge(o.flows);
    this.sources.merge(o.sources);
    this.destinations.merge(o.destinations);
  }

  /**
   * The seed's FlowStatistics over a window of `seconds`; `packetSize` are the window's packet-size
   * moments (n = packets). Utilisation is bits/s over `linkCapacityBps`, or raw bits/s when unknown.
   */
  flowStatistics(packetSize: Moments, seconds: number, linkCapacityBps: number | null): FlowStatistics {
    const bitsPerSecond = (this.bytes * 8) / seconds;
    const iat: Distribution = {
      count: this.interArrival.n,
      mean: this.interArrival.n > 0 ? this.interArrival.mean : 0,
      variance: variance(this.interArrival),
      min: this.interArrival.n > 0 ? this.interArrival.min : 0,
      max: this.interArrival.n > 0 ? this.interArrival.max : 0,
    };
    return {
      mean_packet_size: packetSize.n > 0 ? packetSize.mean : 0,
      variance_packet_size: variance(packetSize),
      packet_rate_per_second: packetSize.n / seconds,
      bandwidth_utilization: linkCapacityBps !== null && linkCapacityBps > 0 ? bitsPerSecond / linkCapacityBps : bitsPerSecond,
      link_capacity_bps: linkCapacityBps,
      flow_duration_histogram: { upper_bounds: [...FLOW_DURATION_BOUNDS_MS], counts: Array.from(this.durationHistogram) },
      inter_arrival_time_distribution: iat,
    };
  }
}

export type Summary = DnsSummary | FlowSummary;
