// The window-count detector: an EWMA baseline of the record count per (stream, window size, dimension,
// key) from stoq.aggregates.v1, and an anomaly when a window's count is an outlier against it.
import type { Anomaly, Dimension, EntityType, ThreatLevel, WindowAggregate } from "../../../lib/src/avro.js";
import { chebyshevConfidence, evidence, levelRank, toAnomaly } from "./anomaly.js";
import { countVarianceFloor, EwmaBaseline } from "./ewma.js";
import { WindowTable, type IngestOutcome, type Series, type SeriesWindow, type Stream } from "./window-table.js";

export interface RateDetectorOptions {
  /** statistical_analysis.dns_pattern_analysis.pattern_learning_rate */
  readonly learningRate: number;
  /** statistical_analysis.dns_pattern_analysis.anomaly_threshold (z-score) */
  readonly threshold: number;
  /** detector.warmup_windows: closed windows a baseline needs before it may flag. */
  readonly warmupWindows: number;
  /** detector.min_window_count: windows with fewer records are never flagged. */
  readonly minWindowCount: number;
  /** aggregator.allowed_lateness: how long after its end a window may still be revised. */
  readonly closeDelayMs: number;
  /** Series with a baseline (statistical_analysis.dns_pattern_analysis.max_domains_tracked). */
  readonly maxSeries: number;
  /** Told what each row did (for metrics); "hopping" rows are not scored. */
  readonly onRow?: (outcome: IngestOutcome | "hopping") => void;
}

interface SeriesState {
  readonly baseline: EwmaBaseline;
}

/** Bound of the published-id memory (ids are deterministic, so forgetting one only risks a re-send). */
const MAX_REMEMBERED = 200_000;

export function detectorName(stream: Stream): string {
  return `${stream === "other" ? "agg" : stream}.rate_ewma`;
}

export function entityOf(dimension: Dimension, key: string): { entityType: EntityType; entity: string } {
  return { entityType: dimension, entity: dimension === "global" ? "all" : key };
}

export class RateDetector {
  private readonly table: WindowTable<SeriesState>;
  /** id -> highest level published; a revision that raises the level publishes the id again. */
  private readonly published = new Map<string, ThreatLevel>();
  /** Beyond this many windows of silence a dense baseline has forgotten its past (weight e^-5). */
  private readonly maxZeroFill: number;
  windowsClosed = 0;

  constructor(private readonly o: RateDetectorOptions) {
    this.maxZeroFill = Math.ceil(5 / o.learningRate);
    this.table = new WindowTable<SeriesState>({
      closeDelayMs: o.closeDelayMs,
      maxSeries: o.maxSeries,
      initState: () => ({ baseline: new EwmaBaseline(o.learningRate) }),
    });
  }

  get series(): number {
    return this.table.size;
  }

  get tooLate(): number {
    return this.table.tooLate;
  }

  get evicted(): number {
    return this.table.evicted;
  }

  /** The baseline of a series, for inspection (id as WindowTable builds it). */
  baseline(id: string): EwmaBaseline | undefined {
    return this.table.get(id)?.state.baseline;
  }

  /**
   * Folds one aggregate row in and returns the anomalies it makes (new ones, or known ids whose level
   * rose). Hopping windows are skipped: overlapping windows are correlated, which the z-score assumes not.
   */
  ingest(row: WindowAggregate): Anomaly[] {
    if (row.kind !== "tumbling") {
      this.o.onRow?.("hopping");
      return [];
    }
    const out: Anomaly[] = [];
    const { outcome, window } = this.table.ingest(row);
    this.o.onRow?.(outcome);
    if (window !== undefined && (outcome === "new" || outcome === "revised")) this.check(window, out);
    this.table.closeReady((w) => this.close(w, out));
    return out;
  }

  /** Closes every open window (end of a finite input) and returns what that finds. */
  flush(): Anomaly[] {
    const out: Anomaly[] = [];
    this.table.closeAll((w) => this.close(w, out));
    return out;
  }

  private close(w: SeriesWindow<SeriesState>, out: Anomaly[]): void {
    this.windowsClosed++;
    this.check(w, out);
    const s = w.series;
    const b = s.state.baseline;
    if (s.dense && Number.isFinite(s.lastClosedStart)) {
      const missing = Math.min(this.maxZeroFill, Math.round((w.start - s.lastClosedStart) / s.hopMs) - 1);
      for (let i = 0; i < missing; i++) b.update(0);
    }
    b.update(w.total);
  }

  /** Flags an upward outlier. Counts only grow as tasks and revisions arrive, so an open window may be flagged early. */
  private check(w: SeriesWindow<SeriesState>, out: Anomaly[]): void {
    const s = w.series;
    const b = s.state.baseline;
    if (b.n < this.o.warmupWindows || w.total < this.o.minWindowCount) return;
    const d = b.deviation(w.total, countVarianceFloor(b.mean));
    if (!(d.z >= this.o.threshold)) return;
    const a = this.anomaly(w, d.z, d.mean, d.stddev, b.n);
    const before = this.published.get(a.id);
    if (before !== undefined && levelRank(before) >= levelRank(a.threat_level)) return;
    this.remember(a.id, a.threat_level);
    out.push(a);
  }

  private remember(id: string, level: ThreatLevel): void {
    this.published.delete(id);
    this.published.set(id, level);
    if (this.published.size > MAX_REMEMBERED) this.published.delete(this.published.keys().next().value!);
  }

  private anomaly(w: SeriesWindow<SeriesState>, z: number, mean: number, stddev: number, n: number): Anomaly {
    const s = w.series;
    const { entityType, entity } = entityOf(s.dimension, s.key);
    const ratio = mean > 0 ? w.total / mean : w.total;
    const seconds = s.sizeMs / 1000;
    const ev = [
      evidence("window_count", w.total, "records"),
      evidence("baseline_mean", mean, "records"),
      evidence("baseline_stddev", stddev, "records"),
      evidence("z_score", z, "sigma"),
      evidence("ratio_to_baseline", ratio, "x"),
      evidence("rate", w.total / seconds, "records/s"),
      evidence("baseline_windows", n, "windows"),
      evidence("window_size", seconds, "s"),
    ];
    if (w.sample.top_k.length > 0) {
      const top = w.sample.top_k.slice(0, 5).map((e) => `${e.key}=${e.count}`).join(", ");
      ev.push(evidence("top_share", (w.sample.top_k[0]?.count ?? 0) / Math.max(1, w.sample.count), "fraction", `top ${w.sample.top_k_of ?? "keys"}: ${top}`));
    }
    return toAnomaly({
      detector: detectorName(s.stream),
      entityType,
      entity,
      windowStartMs: w.start,
      windowEndMs: w.end,
      score: 1 - this.o.threshold / z,
      zScore: z,
      confidence: chebyshevConfidence(z),
      evidence: ev,
      recommendation: recommendation(s, entity, ratio),
      maxLevel: "high",
    });
  }
}

function recommendation(s: Series<SeriesState>, entity: string, ratio: number): string {
  const x = `${ratio.toFixed(1)}x its baseline`;
  const dns = s.stream === "dns";
  switch (s.dimension) {
    case "global":
    case "node":
      return dns
        ? `DNS volume${s.dimension === "node" ? ` on node ${entity}` : ""} is ${x}: look at this window's top domains and sources for a flood, a tunnel or a misbehaving client, and rate-limit the responsible source if it is not expected.`
        : `Flow volume${s.dimension === "node" ? ` on node ${entity}` : ""} is ${x}: look at this window's top sources for a scan or flood; if one source dominates, rate-limit or block it at the edge.`;
    case "registered_domain":
    case "qname":
      return `Queries for ${entity} are ${x}: check whether the names under it look generated or encoded (DGA and tunnel detections) and which sources ask; block it at the resolver if confirmed malicious.`;
    case "source":
      return dns
        ? `Source ${entity} sends ${x} of DNS: check the host for malware, a tunnel client or a misconfigured resolver; rate-limit or isolate it if confirmed.`
        : `Source ${entity} opens ${x} of flows: check its distinct destinations and ports for a scan; rate-limit or isolate it if confirmed.`;
    case "destination":
      return dns
        ? `Server ${entity} receives ${x} of DNS: a flood aimed at it or reflection through it; enable response-rate limiting on it.`
        : `Destination ${entity} receives ${x} of flows: a possible flood aimed at it; check for SYNs without completion and filter the sources upstream.`;
    case "flow":
      return `Flow ${entity} carries ${x}: check the endpoints for bulk transfer or a stuck retry loop.`;
  }
}
