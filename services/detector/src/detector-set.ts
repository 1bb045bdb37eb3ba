// Every detector, built from the validated config, behind one record-by-record interface: the service and
// the pcap evaluation drive the same set, so what the evaluation measures is what the service runs.
import type { Anomaly, CertObservation, DnsEvent, FlowRecord, WindowAggregate } from "../../../lib/src/avro.js";
import type { StoqConfig } from "../../../lib/src/config.js";
import { CertificateAnalytics } from "./certificate-analytics.js";
import { DnsPatterns } from "./dns-patterns.js";
import { FlowModeler } from "./flow-modeler.js";
import { RateDetector } from "./rate-detector.js";
import { StoqStatisticalAnalyzer } from "./statistics.js";
import type { IngestOutcome } from "./window-table.js";
import { DgaDomainDetector } from "./dga-domains.js";
import type { NameScorer } from "./query-name-scorer.js";

export interface DetectorSetOptions {
  /** Told what each aggregate row did (metrics). */
  readonly onRow?: (outcome: IngestOutcome | "hopping") => void;
  /** The query-name model's verdicts (query-name-scorer.ts); without it dns.dga is off. */
  readonly nameScorer?: NameScorer | null;
}

export class DetectorSet {
  readonly rate: RateDetector;
  readonly dns: DnsPatterns | null;
  readonly flows: FlowModeler | null;
  readonly certs: CertificateAnalytics;
  readonly dga: DgaDomainDetector | null;
  readonly statistics: StoqStatisticalAnalyzer;
  /** Newest event time seen on any stream (ms). */
  eventTimeMs = -Infinity;

  constructor(config: StoqConfig, o: DetectorSetOptions = {}) {
    const sa = config.statistical_analysis;
    const dnsCfg = sa.dns_pattern_analysis;
    const lateness = config.aggregator.allowed_lateness;
    // A flow record arrives when its flow ends: up to the idle timeout after its last packet.
    const flowLateness = sa.network_flow_modeling.flow_timeout + lateness;
    const maxKeys = dnsCfg.max_domains_tracked;
    const scorer = o.nameScorer ?? null;
    // A name the model calls tunnel-like adds its probability to its domain's tunnel score.
    const nameScore = scorer === null ? undefined : (q: string) => {
      const v = scorer(q);
      return v === null ? null : v.kind === "tunnel" ? v.probability : 0;
    };
    const common = { learningRate: dnsCfg.pattern_learning_rate, threshold: dnsCfg.anomaly_threshold, warmupWindows: config.detector.warmup_windows };
    this.statistics = new StoqStatisticalAnalyzer({ threshold: dnsCfg.anomaly_threshold, learningRate: dnsCfg.pattern_learning_rate, warmup: config.detector.warmup_windows, coverage: 0.95 });
    this.rate = new RateDetector({
      ...common,
      minWindowCount: config.detector.min_window_count,
      closeDelayMs: lateness,
      maxSeries: maxKeys,
      ...(o.onRow ? { onRow: o.onRow } : {}),
    });
    this.dns =
      sa.enabled && dnsCfg.enabled
        ? new DnsPatterns({
            tunnel: { latenessMs: lateness, maxDomains: maxKeys, ...(nameScore ? { nameScore } : {}) },
            nxdomain: { ...common, latenessMs: lateness, maxSources: maxKeys },
            amplification: { latenessMs: lateness, maxSources: maxKeys },
            statistics: this.statistics,
          })
        : null;
    const flowKeys = config.performance.concurrent_flows_limit;
    this.flows =
      sa.enabled && sa.network_flow_modeling.enabled
        ? new FlowModeler({
            scan: { latenessMs: flowLateness, maxSources: flowKeys },
            synFlood: { latenessMs: flowLateness, maxDestinations: flowKeys },
            congestion: { latenessMs: flowLateness, maxDestinations: flowKeys, learningRate: common.learningRate, warmupWindows: Math.min(10, common.warmupWindows) },
            congestionDetection: sa.network_flow_modeling.congestion_detection,
            linkCapacityBps: config.performance.target_throughput_gbps * 1e9,
            coverage: 0.95,
          })
        : null;
    this.certs = new CertificateAnalytics({ maxCertificates: maxKeys, maxNames: maxKeys });
    this.dga = scorer !== null && this.dns !== null ? new DgaDomainDetector(scorer, { latenessMs: lateness, maxDomains: maxKeys }) : null;
  }

  aggregate(row: WindowAggregate, out: Anomaly[]): void {
    out.push(...this.rate.ingest(row));
  }

  dnsEvent(ev: DnsEvent, out: Anomaly[]): void {
    this.seen(ev.event_time_us / 1000);
    this.dga?.observe(ev, out);
    this.dns?.observe(ev, out);
  }

  /** Flow records that became available together, in the order their flows began. */
  flowBatch(flows: readonly FlowRecord[], out: Anomaly[]): void {
    for (const f of flows) this.seen(f.last_seen_us / 1000);
    this.flows?.observeBatch(flows, out);
  }

  cert(c: CertObservation, out: Anomaly[]): void {
    this.seen(c.event_time_us / 1000);
    this.certs.observe(c, out);
  }

  /**
   * Moves every event-time detector to the newest time seen on any stream: the collectors stamp all
   * streams from one clock, so a quiet stream's windows still close while others flow.
   */
  advance(out: Anomaly[]): void {
    if (!Number.isFinite(this.eventTimeMs)) return;
    this.dns?.advance(this.eventTimeMs, out);
    this.dga?.advance(this.eventTimeMs);
    this.flows?.advance(this.eventTimeMs, out);
  }

  /** End of a finite input: every open window is judged. */
  flush(out: Anomaly[]): void {
    out.push(...this.rate.flush());
    this.dns?.flush(out);
    this.flows?.flush(out);
  }

  private seen(tMs: number): void {
    if (tMs > this.eventTimeMs) this.eventTimeMs = tMs;
  }
}
