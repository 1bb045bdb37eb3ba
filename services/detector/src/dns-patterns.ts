// The seed's DnsPatternAnalyzer over DNS events: the streaming detectors (tunnelling per registered
// domain, NXDOMAIN storms and amplification per client), per-domain query-volume history and its
// prediction with intervals, and the batch analysis of a set of queries.
import type { Anomaly, DnsEvent } from "../../../lib/src/avro.js";
import { AmplificationDetector, type AmplificationOptions } from "./dns-amplification.js";
import { accumulate, domainOf, DomainTunnelDetector, newTunnelState, qtypeName, tunnelScore, type TunnelDetectorOptions, type TunnelWindowState } from "./dns-tunnel-domains.js";
import { describe } from "./descriptive.js";
import { NxdomainStormDetector, type NxStormOptions } from "./nxdomain-storm.js";
import { StoqStatisticalAnalyzer, type TrendPrediction } from "./statistics.js";

export interface QueryPatternAnalysis {
  readonly queries: number;
  readonly responses: number;
  readonly distinctDomains: number;
  readonly distinctSources: number;
  readonly topDomains: readonly { readonly domain: string; readonly queries: number }[];
  readonly qtypes: Readonly<Record<string, number>>;
  readonly nxdomainShare: number;
  /** Response time quantiles in microseconds, null without matched responses. */
  readonly responseTimeUs: { readonly p50: number; readonly p95: number; readonly p99: number } | null;
  /** Domains by tunnel score (those with at least 5 distinct subdomains), highest first. */
  readonly tunnelScores: readonly { readonly domain: string; readonly score: number; readonly distinctSubdomains: number }[];
  readonly spanMs: number;
}

export interface QueryVolumePrediction extends TrendPrediction {
  readonly domain: string;
  /** Windows of history the prediction rests on. */
  readonly history: number;
}

/** The seed's trait. */
export interface DnsPatternAnalyzer {
  analyzeQueryPatterns(queries: readonly DnsEvent[]): Promise<QueryPatternAnalysis>;
  detectDnsAnomalies(queries: readonly DnsEvent[]): Promise<Anomaly[]>;
  predictQueryVolume(domain: string, horizonMs: number): Promise<QueryVolumePrediction | null>;
}

export interface DnsPatternOptions {
  readonly tunnel?: TunnelDetectorOptions;
  readonly nxdomain?: NxStormOptions;
  readonly amplification?: AmplificationOptions;
  /** Window of the per-domain query counts kept for prediction (default 60 s). */
  readonly volumeWindowMs?: number;
  /** Windows of history kept per domain (default 120). */
  readonly volumeHistory?: number;
  /** Domains with volume history (default 10,000; the least recently queried is dropped). */
  readonly volumeDomains?: number;
  readonly statistics?: StoqStatisticalAnalyzer;
}

interface Volume {
  /** Window start of counts[counts.length - 1]. */
  lastStart: number;
  readonly counts: number[];
}

export class DnsPatterns implements DnsPatternAnalyzer {
  private readonly tunnel: DomainTunnelDetector;
  private readonly nx: NxdomainStormDetector;
  private readonly amp: AmplificationDetector;
  private readonly volumes = new Map<string, Volume>();
  private readonly volumeWindowMs: number;
  private readonly volumeHistory: number;
  private readonly volumeDomains: number;
  private readonly stats: StoqStatisticalAnalyzer;

  constructor(private readonly o: DnsPatternOptions = {}) {
    this.tunnel = new DomainTunnelDetector(o.tunnel);
    this.nx = new NxdomainStormDetector(o.nxdomain);
    this.amp = new AmplificationDetector(o.amplification);
    this.volumeWindowMs = o.volumeWindowMs ?? 60_000;
    this.volumeHistory = o.volumeHistory ?? 120;
    this.volumeDomains = o.volumeDomains ?? 10_000;
    this.stats = o.statistics ?? new StoqStatisticalAnalyzer();
  }

  /** Streams one event through every DNS detector; detections are appended to `out`. */
  observe(ev: DnsEvent, out: Anomaly[]): void {
    this.tunnel.observe(ev, out);
    this.nx.observe(ev, out);
    this.amp.observe(ev, out);
    if (!ev.is_response) {
      const domain = domainOf(ev);
      if (domain !== "") this.count(domain, ev.event_time_us / 1000);
    }
  }

  /** Event time moved on (another stream's records): close what the watermark passed. */
  advance(tMs: number, out: Anomaly[]): void {
    this.tunnel.advance(tMs, out);
    this.nx.advance(tMs, out);
    this.amp.advance(tMs, out);
  }

  flush(out: Anomaly[]): void {
    this.tunnel.flush(out);
    this.nx.flush(out);
    this.amp.flush(out);
  }

  analyzeQueryPatterns(queries: readonly DnsEvent[]): Promise<QueryPatternAnalysis> {
    return Promise.resolve(analyzeQueries(queries));
  }

  /** Runs a fresh set of detectors over `queries` (in event-time order) and returns every detection. */
  detectDnsAnomalies(queries: readonly DnsEvent[]): Promise<Anomaly[]> {
    const fresh = new DnsPatterns(this.o);
    const out: Anomaly[] = [];
    for (const q of [...queries].sort((a, b) => a.event_time_us - b.event_time_us)) fresh.observe(q, out);
    fresh.flush(out);
    return Promise.resolve(out);
  }

  predictQueryVolume(domain: string, horizonMs: number): Promise<QueryVolumePrediction | null> {
    return Promise.resolve(this.predictVolume(domain, horizonMs));
  }

  /** Query counts per window of `domain`, oldest first, ending with the current (open) window. */
  volumeOf(domain: string): { readonly windowMs: number; readonly lastStart: number; readonly counts: readonly number[] } | null {
    const v = this.volumes.get(domain);
    return v === undefined ? null : { windowMs: this.volumeWindowMs, lastStart: v.lastStart, counts: v.counts };
  }

  /**
   * Queries per window predicted `horizonMs` past the last complete window. Only complete windows are
   * used: the open one would read as a drop.
   */
  predictVolume(domain: string, horizonMs: number): QueryVolumePrediction | null {
    const v = this.volumes.get(domain);
    if (v === undefined || v.counts.length < 2) return null;
    const complete = v.counts.slice(0, -1);
    const first = v.lastStart - (v.counts.length - 1) * this.volumeWindowMs;
    const data = complete.map((value, i) => ({ timestampMs: first + i * this.volumeWindowMs, value }));
    const p = this.stats.predict(data, horizonMs + this.volumeWindowMs);
    const clip = (x: number) => Math.max(0, x);
    const points = p.points.map((x) => ({ ...x, mean: clip(x.mean), lower: clip(x.lower), upper: clip(x.upper) }));
    return { ...p, points, atHorizon: points[points.length - 1]!, domain, history: complete.length };
  }

  private count(domain: string, tMs: number): void {
    const start = tMs - (tMs % this.volumeWindowMs);
    let v = this.volumes.get(domain);
    if (v === undefined) {
      v = { lastStart: start, counts: [0] };
      if (this.volumes.size >= this.volumeDomains) this.volumes.delete(this.volumes.keys().next().value!);
    } else this.volumes.delete(domain);
    this.volumes.set(domain, v);
    if (start > v.lastStart) {
      // Windows without queries in between are zeros; a gap longer than the history clears it.
      const gap = Math.min(this.volumeHistory, Math.round((start - v.lastStart) / this.volumeWindowMs));
      for (let i = 0; i < gap; i++) v.counts.push(0);
      v.lastStart = start;
      if (v.counts.length > this.volumeHistory) v.counts.splice(0, v.counts.length - this.volumeHistory);
    }
    const back = Math.round((v.lastStart - start) / this.volumeWindowMs);
    const i = v.counts.length - 1 - back;
    if (i >= 0) v.counts[i]!++;
  }
}

export function analyzeQueries(events: readonly DnsEvent[]): QueryPatternAnalysis {
  const domains = new Map<string, number>();
  const sources = new Set<string>();
  const qtypes: Record<string, number> = {};
  const rts: number[] = [];
  let queries = 0;
  let responses = 0;
  let nx = 0;
  let minT = Infinity;
  let maxT = -Infinity;
  const perDomain = new Map<string, TunnelWindowState>();
  for (const e of events) {
    const t = e.event_time_us / 1000;
    minT = Math.min(minT, t);
    maxT = Math.max(maxT, t);
    if (e.is_response) {
      responses++;
      if (e.rcode === 3) nx++;
      if (e.response_time_us !== null) rts.push(e.response_time_us);
      sources.add(e.dst_addr);
      continue;
    }
    queries++;
    sources.add(e.src_addr);
    const domain = domainOf(e);
    domains.set(domain, (domains.get(domain) ?? 0) + 1);
    const name = qtypeName(e.qtype);
    qtypes[name] = (qtypes[name] ?? 0) + 1;
    let st = perDomain.get(domain);
    if (st === undefined) perDomain.set(domain, (st = newTunnelState()));
    accumulate(st, e, t, undefined, domain);
  }
  const tunnelScores: { domain: string; score: number; distinctSubdomains: number }[] = [];
  for (const [domain, s] of perDomain) {
    if (s.distinct.size >= 5) tunnelScores.push({ domain, score: tunnelScore(s).score, distinctSubdomains: s.distinct.size });
  }
  const rt = rts.length > 0 ? describe(rts) : null;
  return {
    queries,
    responses,
    distinctDomains: domains.size,
    distinctSources: sources.size,
    topDomains: [...domains.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10).map(([domain, q]) => ({ domain, queries: q })),
    qtypes,
    nxdomainShare: responses > 0 ? nx / responses : 0,
    responseTimeUs: rt ? { p50: rt.median, p95: rt.p95, p99: rt.p99 } : null,
    tunnelScores: tunnelScores.sort((a, b) => b.score - a.score),
    spanMs: Number.isFinite(minT) ? maxT - minT : 0,
  };
}
