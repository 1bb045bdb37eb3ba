// DNS tunnelling and exfiltration per registered domain: what a tunnel does to the names under its parent
// domain in a window (long, high-entropy, never-repeating subdomains, TXT/NULL/CNAME answers, bytes
// carried, steady cadence), scored together so that no single benign habit (a CDN's hashed names, a
// mail server's TXT lookups) is enough.
import type { Anomaly, DnsEvent } from "../../../lib/src/avro.js";
import { registeredDomain } from "../../../lib/src/registered-domain.js";
import { addSample, emptyMoments, type Moments } from "../../../lib/src/welford.js";
import { clamp01, evidence, toAnomaly } from "./anomaly.js";
import { shannonEntropy } from "./descriptive.js";
import { KeyedWindows, type WindowSlot } from "./event-windows.js";

export const QTYPE = { A: 1, NS: 2, CNAME: 5, NULL: 10, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;
/** Record types tunnels use to carry data back (dns2tcp TXT, iodine NULL, tuns CNAME, some MX/SRV). */
const CARRIER_TYPES: ReadonlySet<number> = new Set([QTYPE.TXT, QTYPE.NULL, QTYPE.CNAME, QTYPE.MX, QTYPE.SRV]);

export interface TunnelDetectorOptions {
  readonly windowMs?: number;
  readonly latenessMs?: number;
  readonly maxDomains?: number;
  /** Distinct subdomains a window needs before it is scored (a handful of odd names is no tunnel). */
  readonly minDistinct?: number;
  /** Score (0..1) at and above which a domain is reported. */
  readonly threshold?: number;
  /** Optional per-name model probability (0..1) that a query name is a tunnel's; joins the score when given. */
  readonly nameScore?: (qname: string) => number | null;
}

/** Bound on the exact distinct-subdomain set per window: past it, distinctness is extrapolated. */
const MAX_DISTINCT = 4096;

export interface TunnelWindowState {
  queries: number;
  readonly distinct: Set<string>;
  /** Queries whose subdomain was already in `distinct` (exact while it is not full). */
  repeats: number;
  subLen: number;
  maxSubLen: number;
  entropy: number;
  carrier: number;
  readonly qtypes: Map<number, number>;
  bytesOut: number;
  bytesIn: number;
  subBytes: number;
  nameScoreSum: number;
  nameScored: number;
  lastTs: number;
  readonly gaps: Moments;
  readonly sources: Set<string>;
  sample: string;
  fired: boolean;
}

export interface TunnelScore {
  readonly score: number;
  readonly parts: { readonly length: number; readonly entropy: number; readonly uniqueness: number; readonly volume: number; readonly carrier: number; readonly model: number | null };
  readonly meanSubLen: number;
  readonly meanEntropy: number;
  readonly uniqueness: number;
  readonly carrierShare: number;
}

/**
 * The registered domain of an event. Records written before the collector retried the public-suffix
 * lookup past payload labels ("+", "/" in base64 tunnels) carry the whole name; those are looked up again.
 */
export function domainOf(ev: Pick<DnsEvent, "qname" | "registered_domain">): string {
  return ev.registered_domain !== ev.qname ? ev.registered_domain : registeredDomain(ev.qname);
}

/** Left of the registered domain: "a.b" of "a.b.example.com"; "" when the name is the registered domain. */
export function subdomainOf(qname: string, registered: string): string {
  const q = qname.endsWith(".") ? qname.slice(0, -1) : qname;
  if (registered === "" || q.length <= registered.length) return "";
  return q.endsWith(`.${registered}`) ? q.slice(0, q.length - registered.length - 1) : "";
}

export function newTunnelState(): TunnelWindowState {
  return {
    queries: 0,
    distinct: new Set(),
    repeats: 0,
    subLen: 0,
    maxSubLen: 0,
    entropy: 0,
    carrier: 0,
    qtypes: new Map(),
    bytesOut: 0,
    bytesIn: 0,
    subBytes: 0,
    nameScoreSum: 0,
    nameScored: 0,
    lastTs: -1,
    gaps: emptyMoments(),
    sources: new Set(),
    sample: "",
    fired: false,
  };
}

/**
 * The window's tunnel score, 0..1: a weighted mean of five indicators, each 0 at a typical benign value
 * and 1 where tunnels live (measured on the netrack tunnel and plain names): mean subdomain length 16 -> 40
 * characters, mean per-name character entropy 2.5 -> 4 bits, share of never-repeated names 0.3 -> 0.9,
 * distinct names 1 -> 300 (log), carrier record types 0 -> 50 %. With a per-name model its mean
 * probability takes a fifth of the weight.
 */
export function tunnelScore(s: TunnelWindowState): TunnelScore {
  const n = Math.max(1, s.queries);
  const meanSubLen = s.subLen / n;
  const meanEntropy = s.entropy / n;
  const uniqueness = s.distinct.size < MAX_DISTINCT ? s.distinct.size / n : 1 - s.repeats / n;
  const carrierShare = s.carrier / n;
  const parts = {
    length: clamp01((meanSubLen - 16) / 24),
    entropy: clamp01((meanEntropy - 2.5) / 1.5),
    uniqueness: clamp01((uniqueness - 0.3) / 0.6),
    volume: clamp01(Math.log10(Math.max(1, s.distinct.size)) / Math.log10(300)),
    carrier: clamp01(carrierShare / 0.5),
    model: s.nameScored > 0 ? s.nameScoreSum / s.nameScored : null,
  };
  let score = 0.25 * parts.length + 0.25 * parts.entropy + 0.15 * parts.uniqueness + 0.2 * parts.volume + 0.15 * parts.carrier;
  if (parts.model !== null) score = 0.8 * score + 0.2 * parts.model;
  return { score, parts, meanSubLen, meanEntropy, uniqueness, carrierShare };
}

/** Folds one query (or unmatched response) at time `t` ms into a window's state. */
export function accumulate(s: TunnelWindowState, ev: DnsEvent, t: number, nameScore?: (qname: string) => number | null, domain = domainOf(ev)): void {
  const sub = subdomainOf(ev.qname, domain);
  s.queries++;
  if (s.distinct.has(sub)) s.repeats++;
  else if (s.distinct.size < MAX_DISTINCT) s.distinct.add(sub);
  s.subLen += sub.length;
  if (sub.length > s.maxSubLen) {
    s.maxSubLen = sub.length;
    s.sample = ev.qname;
  }
  s.entropy += shannonEntropy(sub.replaceAll(".", ""));
  if (CARRIER_TYPES.has(ev.qtype)) s.carrier++;
  s.qtypes.set(ev.qtype, (s.qtypes.get(ev.qtype) ?? 0) + 1);
  s.bytesOut += ev.query_size ?? 0;
  s.subBytes += sub.length;
  if (s.sources.size < 64) s.sources.add(ev.is_response ? ev.dst_addr : ev.src_addr);
  if (s.lastTs >= 0 && t >= s.lastTs) addSample(s.gaps, t - s.lastTs);
  s.lastTs = Math.max(s.lastTs, t);
  const ns = nameScore?.(ev.qname);
  if (ns != null) {
    s.nameScoreSum += ns;
    s.nameScored++;
  }
}

export class DomainTunnelDetector {
  private readonly windows: KeyedWindows<TunnelWindowState>;
  private readonly minDistinct: number;
  private readonly threshold: number;

  constructor(private readonly o: TunnelDetectorOptions = {}) {
    this.windows = new KeyedWindows({ windowMs: o.windowMs ?? 60_000, latenessMs: o.latenessMs ?? 5000, maxKeys: o.maxDomains ?? 100_000, create: newTunnelState });
    this.minDistinct = o.minDistinct ?? 20;
    this.threshold = o.threshold ?? 0.65;
  }

  /**
   * Adds one DNS event. A query counts once: the query itself, or its response when the query was not
   * seen (query_size null). Returns a detection the moment the window's score crosses the threshold.
   */
  observe(ev: DnsEvent, out: Anomaly[]): void {
    const t = ev.event_time_us / 1000;
    const domain = domainOf(ev);
    if (domain === "") return;
    const w = this.windows.slot(domain, t, (c) => this.closed(c, out));
    this.windows.close((c) => this.closed(c, out));
    if (w === null) return;
    const s = w.state;
    if (ev.is_response) s.bytesIn += ev.response_size ?? 0;
    if (ev.is_response && ev.query_size !== null) return;
    accumulate(s, ev, t, this.o.nameScore, domain);
    if (!s.fired) this.check(w, t, out);
  }

  /** Closes windows the watermark passed (call when event time moves without DNS events). */
  advance(tMs: number, out: Anomaly[]): void {
    this.windows.advanceTo(tMs);
    this.windows.close((c) => this.closed(c, out));
  }

  flush(out: Anomaly[]): void {
    this.windows.close((c) => this.closed(c, out), true);
  }

  private closed(w: WindowSlot<TunnelWindowState>, out: Anomaly[]): void {
    if (!w.state.fired) this.check(w, w.end, out);
  }

  private check(w: WindowSlot<TunnelWindowState>, atMs: number, out: Anomaly[]): void {
    const s = w.state;
    if (s.distinct.size < this.minDistinct) return;
    const sc = tunnelScore(s);
    if (sc.score < this.threshold) return;
    s.fired = true;
    const windowS = (w.end - w.start) / 1000;
    const qtypes = [...s.qtypes.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${qtypeName(k)}=${v}`).join(" ");
    const ev = [
      evidence("tunnel_score", sc.score, "score"),
      evidence("queries", s.queries, "queries"),
      evidence("distinct_subdomains", s.distinct.size, "names"),
      evidence("unique_share", sc.uniqueness, "fraction"),
      evidence("mean_subdomain_length", sc.meanSubLen, "chars"),
      evidence("max_subdomain_length", s.maxSubLen, "chars", s.sample),
      evidence("mean_subdomain_entropy", sc.meanEntropy, "bits/char"),
      evidence("carrier_type_share", sc.carrierShare, "fraction", qtypes),
      evidence("encoded_bytes_out", s.subBytes, "bytes"),
      evidence("query_bytes_out", s.bytesOut, "bytes"),
      evidence("response_bytes_in", s.bytesIn, "bytes"),
      evidence("query_rate", s.queries / windowS, "queries/s"),
      evidence("sources", s.sources.size, "hosts", [...s.sources].slice(0, 5).join(" ")),
    ];
    if (s.gaps.n >= 2) {
      const cv = s.gaps.mean > 0 ? Math.sqrt(s.gaps.m2 / s.gaps.n) / s.gaps.mean : 0;
      ev.push(evidence("mean_query_gap", s.gaps.mean, "ms"), evidence("query_gap_cv", cv, "ratio"));
    }
    if (sc.parts.model !== null) ev.push(evidence("mean_name_model_probability", sc.parts.model, "probability"));
    // Confidence grows with the evidence: the score's margin and how many distinct names it rests on.
    const confidence = clamp01(0.5 + (sc.score - this.threshold) * 1.5) * clamp01(Math.log10(s.distinct.size) / 2);
    out.push(
      toAnomaly({
        detector: "dns.tunnel",
        entityType: "registered_domain",
        entity: w.key,
        windowStartMs: w.start,
        windowEndMs: w.end,
        score: sc.score,
        confidence,
        evidence: ev,
        detectedAtMs: Math.min(w.end, Math.max(w.start, Math.floor(atMs))),
        recommendation: `Names under ${w.key} look like a DNS tunnel (${s.distinct.size} distinct subdomains averaging ${sc.meanSubLen.toFixed(0)} characters, ${(sc.carrierShare * 100).toFixed(0)} % TXT/NULL/CNAME): identify the querying hosts (${[...s.sources].slice(0, 3).join(", ")}), block ${w.key} at the resolver, and look for the tunnel client on those hosts.`,
      }),
    );
  }
}

export function qtypeName(t: number): string {
  for (const [k, v] of Object.entries(QTYPE)) if (v === t) return k;
  return `TYPE${t}`;
}
