// The seed's CertificateAnalytics over certificate observations: usage frequency and trend per
// fingerprint, chain health, trust score, renewal prediction from validity and each name's observed
// renewal cadence, a revocation-risk score, anomaly indicators (issuer change, premature replacement of a
// long-seen name's certificate), and the anomalies they make. Time is event time: tests fix it.
import type { Anomaly, CertObservation } from "../../../lib/src/avro.js";
import { evidence, toAnomaly } from "./anomaly.js";
import { linearTrend } from "./trend.js";

const DAY = 86_400_000;
const HOUR = 3_600_000;

export type ChainIssueKind =
  | "expired"
  | "not_yet_valid"
  | "self_signed"
  | "interception_ca"
  | "weak_signature"
  | "weak_key"
  | "incomplete_chain"
  | "long_chain"
  | "san_explosion"
  | "long_validity"
  | "no_sct"
  | "no_subject"
  | "name_mismatch";

export interface ChainIssue {
  readonly kind: ChainIssueKind;
  /** How much the issue takes from trust, 0..1 (trust = product of (1 - weight)). */
  readonly weight: number;
  readonly detail: string;
}

export type IndicatorKind = ChainIssueKind | "issuer_change" | "premature_replacement" | "usage_spike";

export interface AnomalyIndicator {
  readonly kind: IndicatorKind;
  readonly severity: number;
  readonly detail: string;
}

export interface RenewalPrediction {
  readonly notAfterMs: number;
  readonly daysToExpiry: number;
  /** When the certificate should be replaced. */
  readonly expectedRenewalMs: number;
  /** observed_cadence: from the name's earlier certificates; lifetime_rule: at two thirds of the lifetime. */
  readonly basis: "observed_cadence" | "lifetime_rule";
  /** Mean days between the name's certificates, when observed. */
  readonly cadenceDays: number | null;
  readonly status: "ok" | "due" | "overdue" | "expired";
}

export interface PerformanceImpact {
  /** Handshake signing cost relative to RSA-2048 (RSA private operations grow ~cubically with the key size). */
  readonly relativeHandshakeCost: number;
  /** Rough bytes the chain adds to every full handshake. */
  readonly estimatedChainBytes: number;
}

/** The seed's CertificateUsageAnalysis. */
export interface CertificateUsageAnalysis {
  readonly certificateFingerprint: string;
  /** Observations per hour over the time it has been seen (at least one hour). */
  readonly usageFrequency: number;
  readonly usageTrend: "rising" | "falling" | "stable";
  readonly trustScore: number;
  readonly chainHealth: readonly ChainIssue[];
  readonly renewalPrediction: RenewalPrediction;
  readonly revocationRisk: number;
  readonly anomalyIndicators: readonly AnomalyIndicator[];
  readonly performanceImpact: PerformanceImpact;
  readonly names: readonly string[];
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly observations: number;
}

export interface TrendAnalysis {
  readonly trends: readonly CertificateUsageAnalysis[];
  readonly globalStatistics: {
    readonly certificates: number;
    readonly meanTrustScore: number;
    readonly expired: number;
    readonly expiringWithin30Days: number;
    readonly issues: Readonly<Partial<Record<IndicatorKind, number>>>;
  };
  readonly recommendations: readonly string[];
}

/**
 * CAs whose roots were shipped by software to intercept TLS and whose private keys became public
 * (Superfish/Komodia 2015, Dell eDellRoot and DSDTestProvider 2015): anything they sign is an interception.
 */
const INTERCEPTION_ISSUERS = [/superfish/i, /edellroot/i, /dsdtestprovider/i, /komodia/i];

/** CA/Browser Forum maximum validity by issuance date: 398 days from 2020-09-01, 825 from 2018-03-01, 39 months before. */
export function maxValidityDays(notBeforeMs: number): number {
  if (notBeforeMs >= Date.UTC(2020, 8, 1)) return 398;
  if (notBeforeMs >= Date.UTC(2018, 2, 1)) return 825;
  return 1186;
}

/** Chrome has required Certificate Transparency for every publicly trusted certificate issued since 2018-04-30. */
const CT_REQUIRED_FROM = Date.UTC(2018, 3, 30);

function commonName(dn: string): string | null {
  const m = /(?:^|,)CN=((?:[^,\\]|\\.)*)/.exec(dn);
  return m ? m[1]!.replace(/\\(.)/g, "$1") : null;
}

/** Whether a certificate name (possibly a wildcard) covers `host`. */
export function nameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase().replace(/\.$/, "");
  if (p === h) return true;
  if (!p.startsWith("*.")) return false;
  const rest = p.slice(1);
  return h.endsWith(rest) && !h.slice(0, h.length - rest.length).includes(".") && h.length > rest.length;
}

/** The chain-health issues of one observed certificate at time `nowMs`. */
export function chainHealth(c: CertObservation, nowMs: number): ChainIssue[] {
  const out: ChainIssue[] = [];
  const leaf = c.chain_position === 0;
  if (nowMs > c.not_after_ms) out.push({ kind: "expired", weight: 0.6, detail: `expired ${((nowMs - c.not_after_ms) / DAY).toFixed(0)} days ago` });
  if (nowMs < c.not_before_ms) out.push({ kind: "not_yet_valid", weight: 0.5, detail: `valid from ${new Date(c.not_before_ms).toISOString()}` });
  const interception = INTERCEPTION_ISSUERS.find((r) => r.test(c.issuer));
  if (interception) out.push({ kind: "interception_ca", weight: 0.9, detail: `issued by ${commonName(c.issuer) ?? c.issuer}, a TLS-interception CA whose key is public` });
  if (c.self_signed && leaf && !c.is_ca) out.push({ kind: "self_signed", weight: 0.5, detail: "self-signed server certificate" });
  else if (c.self_signed && leaf && c.chain_length === 1) out.push({ kind: "self_signed", weight: 0.5, detail: "a self-signed CA certificate served as the whole chain" });
  const sig = c.signature_algorithm.toLowerCase();
  // A root's self-signature is never verified (roots are trusted by inclusion), so its algorithm is moot.
  if (!c.self_signed || leaf) {
    if (/md5|md2/.test(sig)) out.push({ kind: "weak_signature", weight: 0.7, detail: `${c.signature_algorithm}: collisions are practical` });
    else if (/sha1|sha-1/.test(sig) && !/sha1.*(256|384|512)/.test(sig)) out.push({ kind: "weak_signature", weight: 0.4, detail: `${c.signature_algorithm}: SHA-1 collisions are practical (SHAttered, 2017)` });
  }
  const alg = c.key_algorithm.toLowerCase();
  if (alg === "rsa" && c.key_size > 0 && c.key_size < 2048) out.push({ kind: "weak_key", weight: c.key_size < 1024 ? 0.8 : 0.4, detail: `RSA-${c.key_size} (NIST: 2048 bits minimum since 2014)` });
  else if (alg === "ec" && c.key_size > 0 && c.key_size < 256) out.push({ kind: "weak_key", weight: 0.3, detail: `EC-${c.key_size}` });
  else if (alg === "dsa") out.push({ kind: "weak_key", weight: 0.4, detail: `DSA-${c.key_size}: no longer allowed for TLS server certificates` });
  if (leaf && !c.self_signed && c.chain_length === 1) out.push({ kind: "incomplete_chain", weight: 0.2, detail: "the server sent no intermediate certificate: clients without it cached fail" });
  if (leaf && c.chain_length > 4) out.push({ kind: "long_chain", weight: 0.1, detail: `${c.chain_length} certificates: every handshake carries them` });
  const sans = c.san_dns.length + c.san_ip.length;
  if (sans > 100) out.push({ kind: "san_explosion", weight: sans > 1000 ? 0.3 : 0.2, detail: `${sans} subject alternative names: one key shared by that many names` });
  const validityDays = (c.not_after_ms - c.not_before_ms) / DAY;
  if (leaf && !c.self_signed && validityDays > maxValidityDays(c.not_before_ms) + 1) out.push({ kind: "long_validity", weight: 0.1, detail: `${validityDays.toFixed(0)}-day validity, over the ${maxValidityDays(c.not_before_ms)} allowed when it was issued` });
  if (leaf && !c.self_signed && !interception && !c.sct_present && c.not_before_ms >= CT_REQUIRED_FROM) out.push({ kind: "no_sct", weight: 0.3, detail: "no Certificate Transparency proof: browsers reject it if it claims public trust" });
  if (leaf && c.subject.trim() === "" && c.san_dns.length === 0) out.push({ kind: "no_subject", weight: 0.2, detail: "neither a subject nor a DNS name" });
  if (leaf && c.sni !== null && c.sni !== "") {
    const names = c.san_dns.length > 0 ? c.san_dns : [commonName(c.subject) ?? ""];
    if (!names.some((n) => nameMatches(n, c.sni!))) out.push({ kind: "name_mismatch", weight: 0.5, detail: `SNI ${c.sni} is not among its names (${names.slice(0, 3).join(", ")})` });
  }
  return out;
}

export function trustScore(issues: readonly (ChainIssue | AnomalyIndicator)[]): number {
  let t = 1;
  for (const i of issues) t *= 1 - ("weight" in i ? i.weight : i.severity);
  return t;
}

/**
 * Revocation risk, 0..1: not a revocation check (that needs OCSP or a CRL), but how much of what makes CAs
 * revoke or browsers distrust a certificate it shows: a public interception key, weak keys and signatures
 * (key compromise), validity and CT rule breaks (mis-issuance), and a suspicious replacement.
 */
export function revocationRisk(issues: readonly ChainIssue[], indicators: readonly AnomalyIndicator[]): number {
  const r: Partial<Record<IndicatorKind, number>> = { interception_ca: 0.95, weak_key: 0.5, weak_signature: 0.4, long_validity: 0.3, no_sct: 0.2, issuer_change: 0.2, premature_replacement: 0.3, san_explosion: 0.1 };
  let keep = 1;
  for (const i of [...issues.map((x) => x.kind), ...indicators.map((x) => x.kind)]) keep *= 1 - (r[i] ?? 0);
  return 1 - keep;
}

/** The relative cost of the signing operation a server does per full handshake. */
export function performanceImpact(c: CertObservation): PerformanceImpact {
  const alg = c.key_algorithm.toLowerCase();
  const cost = alg === "rsa" ? (Math.max(512, c.key_size) / 2048) ** 3 : alg === "ec" ? 0.1 * (Math.max(256, c.key_size) / 256) ** 2 : 0.1;
  const sanBytes = c.san_dns.reduce((a, n) => a + n.length + 4, 0);
  return { relativeHandshakeCost: cost, estimatedChainBytes: c.chain_length * (c.key_size / 8 + 700) + sanBytes };
}

interface Usage {
  /** The latest observation: the chain around a certificate is the serving server's, and may change. */
  obs: CertObservation;
  firstSeenMs: number;
  lastSeenMs: number;
  observations: number;
  /** Observations per hour, keyed by hour start; the last 48 hours kept. */
  readonly hourly: Map<number, number>;
  readonly names: Set<string>;
  readonly clients: Set<string>;
  /** Anomaly ids already emitted (issue kind + day). */
  readonly emitted: Set<string>;
}

interface NameCert {
  readonly sha256: string;
  readonly issuer: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

interface NameHistory {
  readonly firstSeenMs: number;
  /** Distinct certificates served for the name, oldest first (bounded). */
  readonly certs: NameCert[];
}

export interface CertificateAnalyticsOptions {
  /** Certificates tracked (the least recently seen is dropped past it). */
  readonly maxCertificates?: number;
  readonly maxNames?: number;
  /** A name seen at least this long is "long-seen" (default 7 days). */
  readonly longSeenMs?: number;
  /** Indicators at or above this severity become anomalies (default 0.3). */
  readonly minSeverity?: number;
}

const MAX_CERTS_PER_NAME = 16;

/** The name a leaf is served for: the SNI, else its first DNS name, else its subject's CN. */
export function servedName(c: CertObservation): string | null {
  return (c.sni ?? "").toLowerCase() || c.san_dns[0]?.toLowerCase() || commonName(c.subject)?.toLowerCase() || null;
}

export class CertificateAnalytics {
  private readonly usage = new Map<string, Usage>();
  private readonly names = new Map<string, NameHistory>();
  private lastEventMs = -Infinity;

  constructor(private readonly o: CertificateAnalyticsOptions = {}) {}

  get size(): number {
    return this.usage.size;
  }

  /** Records one observation and appends the anomalies it shows (each kind once per certificate and UTC day). */
  observe(c: CertObservation, out: Anomaly[]): void {
    const t = c.event_time_us / 1000;
    this.lastEventMs = Math.max(this.lastEventMs, t);
    let u = this.usage.get(c.sha256);
    if (u === undefined) {
      u = { obs: c, firstSeenMs: t, lastSeenMs: t, observations: 0, hourly: new Map(), names: new Set(), clients: new Set(), emitted: new Set() };
      if (this.usage.size >= (this.o.maxCertificates ?? 100_000)) this.usage.delete(this.usage.keys().next().value!);
    } else this.usage.delete(c.sha256);
    this.usage.set(c.sha256, u);
    if (t >= u.lastSeenMs) u.obs = c;
    u.observations++;
    u.firstSeenMs = Math.min(u.firstSeenMs, t);
    u.lastSeenMs = Math.max(u.lastSeenMs, t);
    const hour = t - (t % HOUR);
    u.hourly.set(hour, (u.hourly.get(hour) ?? 0) + 1);
    for (const h of u.hourly.keys()) if (h < hour - 48 * HOUR) u.hourly.delete(h);
    if (u.clients.size < 256) u.clients.add(c.client_addr);
    const indicators: AnomalyIndicator[] = [];
    if (c.chain_position === 0) {
      const name = servedName(c);
      if (name !== null) {
        if (u.names.size < 64) u.names.add(name);
        indicators.push(...this.nameIndicators(name, c, t));
      }
    }
    const issues = chainHealth(c, t);
    const minSeverity = this.o.minSeverity ?? 0.3;
    const day = t - (t % DAY);
    const trust = trustScore([...issues, ...indicators]);
    for (const i of [...issues.map((x) => ({ kind: x.kind, severity: x.weight, detail: x.detail })), ...indicators]) {
      if (i.severity < minSeverity) continue;
      const key = `${i.kind}@${day}`;
      if (u.emitted.has(key)) continue;
      u.emitted.add(key);
      out.push(this.anomaly(c, i, day, t, trust));
    }
  }

  /** The seed's per-certificate analysis at `nowMs` (default: the latest event time seen). */
  analyzeCertificate(sha256: string, nowMs = this.lastEventMs): CertificateUsageAnalysis | null {
    const u = this.usage.get(sha256);
    if (u === undefined) return null;
    const c = u.obs;
    const issues = chainHealth(c, nowMs);
    const name = c.chain_position === 0 ? servedName(c) : null;
    const indicators = name !== null ? this.historyIndicators(name, c) : [];
    const spike = this.usageSpike(u);
    if (spike !== null) indicators.push(spike);
    const hours = [...u.hourly.entries()].sort((a, b) => a[0] - b[0]);
    const trend = hours.length >= 3 ? linearTrend(hours.map((h) => h[0] / HOUR), hours.map((h) => h[1])) : null;
    const meanPerHour = hours.reduce((a, h) => a + h[1], 0) / Math.max(1, hours.length);
    const usageTrend = trend === null || Math.abs(trend.slope) < 0.1 * Math.max(1, meanPerHour) ? "stable" : trend.slope > 0 ? "rising" : "falling";
    return {
      certificateFingerprint: sha256,
      usageFrequency: u.observations / Math.max(1, (u.lastSeenMs - u.firstSeenMs) / HOUR),
      usageTrend,
      trustScore: trustScore([...issues, ...indicators]),
      chainHealth: issues,
      renewalPrediction: this.renewal(c, nowMs, name),
      revocationRisk: revocationRisk(issues, indicators),
      anomalyIndicators: [...issues.map((i) => ({ kind: i.kind, severity: i.weight, detail: i.detail })), ...indicators],
      performanceImpact: performanceImpact(c),
      names: [...u.names],
      firstSeenMs: u.firstSeenMs,
      lastSeenMs: u.lastSeenMs,
      observations: u.observations,
    };
  }

  /** The seed's analyze_certificate_trends: every certificate seen within `timeframeMs` before `nowMs`. */
  analyzeCertificateTrends(timeframeMs: number, nowMs = this.lastEventMs): Promise<TrendAnalysis> {
    const trends: CertificateUsageAnalysis[] = [];
    for (const [sha, u] of this.usage) {
      if (u.lastSeenMs < nowMs - timeframeMs) continue;
      const a = this.analyzeCertificate(sha, nowMs);
      if (a !== null) trends.push(a);
    }
    trends.sort((a, b) => a.trustScore - b.trustScore || (a.certificateFingerprint < b.certificateFingerprint ? -1 : 1));
    const issues: Partial<Record<IndicatorKind, number>> = {};
    for (const t of trends) for (const i of t.anomalyIndicators) issues[i.kind] = (issues[i.kind] ?? 0) + 1;
    const expired = trends.filter((t) => t.renewalPrediction.status === "expired").length;
    const expiring = trends.filter((t) => t.renewalPrediction.status !== "expired" && t.renewalPrediction.daysToExpiry <= 30).length;
    const recommendations: string[] = [];
    if (expired > 0) recommendations.push(`${expired} certificates in use have expired: replace them now; clients that check validity are failing.`);
    if (expiring > 0) recommendations.push(`${expiring} certificates expire within 30 days: renew them (automate with ACME where possible).`);
    if ((issues.interception_ca ?? 0) > 0) recommendations.push("TLS-interception certificates are in use: find and remove the intercepting software (Superfish, eDellRoot, ...) and its root from the hosts' trust stores.");
    if ((issues.weak_signature ?? 0) + (issues.weak_key ?? 0) > 0) recommendations.push("Weak keys or SHA-1/MD5 signatures are in use: reissue with RSA-2048+/ECDSA P-256 and SHA-256.");
    if ((issues.incomplete_chain ?? 0) > 0) recommendations.push("Some servers send no intermediate certificates: configure the full chain.");
    if ((issues.issuer_change ?? 0) + (issues.premature_replacement ?? 0) > 0) recommendations.push("Some names changed certificate or issuer unexpectedly: confirm each change with the name's owner (possible mis-issuance or interception).");
    return Promise.resolve({
      trends,
      globalStatistics: {
        certificates: trends.length,
        meanTrustScore: trends.length > 0 ? trends.reduce((a, t) => a + t.trustScore, 0) / trends.length : 1,
        expired,
        expiringWithin30Days: expiring,
        issues,
      },
      recommendations,
    });
  }

  /** Renewal: the name's observed cadence when it has two gaps or more, else two thirds of the lifetime. */
  private renewal(c: CertObservation, nowMs: number, name: string | null): RenewalPrediction {
    const lifetime = c.not_after_ms - c.not_before_ms;
    const h = name !== null ? this.names.get(name) : undefined;
    const starts = (h?.certs ?? []).map((x) => x.notBeforeMs).sort((a, b) => a - b);
    let cadence: number | null = null;
    if (starts.length >= 3) {
      const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
      cadence = gaps.reduce((a, g) => a + g, 0) / gaps.length;
    }
    const expectedRenewalMs = cadence !== null ? Math.min(c.not_after_ms, c.not_before_ms + cadence) : c.not_before_ms + (2 * lifetime) / 3;
    const daysToExpiry = (c.not_after_ms - nowMs) / DAY;
    const status = nowMs > c.not_after_ms ? "expired" : nowMs > expectedRenewalMs ? "overdue" : expectedRenewalMs - nowMs <= 14 * DAY ? "due" : "ok";
    return { notAfterMs: c.not_after_ms, daysToExpiry, expectedRenewalMs, basis: cadence !== null ? "observed_cadence" : "lifetime_rule", cadenceDays: cadence !== null ? cadence / DAY : null, status };
  }

  /** Records the leaf for its name and returns what its arrival says (issuer change, premature replacement). */
  private nameIndicators(name: string, c: CertObservation, t: number): AnomalyIndicator[] {
    let h = this.names.get(name);
    if (h === undefined) {
      h = { firstSeenMs: t, certs: [] };
      if (this.names.size >= (this.o.maxNames ?? 100_000)) this.names.delete(this.names.keys().next().value!);
      this.names.set(name, h);
    }
    const known = h.certs.find((x) => x.sha256 === c.sha256);
    if (known !== undefined) {
      known.lastSeenMs = Math.max(known.lastSeenMs, t);
      return [];
    }
    const out = this.arrivalIndicators(h, c, t);
    h.certs.push({ sha256: c.sha256, issuer: c.issuer, notBeforeMs: c.not_before_ms, notAfterMs: c.not_after_ms, firstSeenMs: t, lastSeenMs: t });
    if (h.certs.length > MAX_CERTS_PER_NAME) h.certs.shift();
    return out;
  }

  private arrivalIndicators(h: NameHistory, c: CertObservation, t: number): AnomalyIndicator[] {
    const out: AnomalyIndicator[] = [];
    const before = h.certs.filter((x) => x.sha256 !== c.sha256 && x.firstSeenMs < t);
    if (before.length === 0 || t - h.firstSeenMs < (this.o.longSeenMs ?? 7 * DAY)) return out;
    const prev = before.reduce((a, b) => (b.lastSeenMs > a.lastSeenMs ? b : a));
    if (!before.some((x) => x.issuer === c.issuer)) {
      out.push({ kind: "issuer_change", severity: 0.3, detail: `issuer ${commonName(c.issuer) ?? c.issuer} replaces ${commonName(prev.issuer) ?? prev.issuer} for a name seen for ${((t - h.firstSeenMs) / DAY).toFixed(0)} days` });
    }
    const young = t - c.not_before_ms < 2 * DAY;
    const prevLeft = (prev.notAfterMs - t) / (prev.notAfterMs - prev.notBeforeMs);
    if (young && prevLeft > 1 / 3) {
      out.push({ kind: "premature_replacement", severity: 0.35, detail: `a ${((t - c.not_before_ms) / HOUR).toFixed(0)}-hour-old certificate replaces one with ${((prev.notAfterMs - t) / DAY).toFixed(0)} days left` });
    }
    return out;
  }

  /** The indicators of the certificate's arrival for its name, recomputed from the history (for analysis). */
  private historyIndicators(name: string, c: CertObservation): AnomalyIndicator[] {
    const h = this.names.get(name);
    const mine = h?.certs.find((x) => x.sha256 === c.sha256);
    if (h === undefined || mine === undefined) return [];
    const earlier: NameHistory = { firstSeenMs: h.firstSeenMs, certs: h.certs.filter((x) => x.firstSeenMs < mine.firstSeenMs) };
    return this.arrivalIndicators(earlier, c, mine.firstSeenMs);
  }

  /** The last full hour's observations against the earlier hours (z >= 3 over at least 6 hours). */
  private usageSpike(u: Usage): AnomalyIndicator | null {
    const hours = [...u.hourly.entries()].sort((a, b) => a[0] - b[0]).map((h) => h[1]);
    if (hours.length < 7) return null;
    const last = hours[hours.length - 1]!;
    const past = hours.slice(0, -1);
    const mean = past.reduce((a, x) => a + x, 0) / past.length;
    const sd = Math.sqrt(Math.max(mean, past.reduce((a, x) => a + (x - mean) ** 2, 0) / past.length));
    const z = (last - mean) / sd;
    return z >= 3 ? { kind: "usage_spike", severity: 0.1, detail: `${last} observations in the last hour against ${mean.toFixed(1)} usually (z ${z.toFixed(1)})` } : null;
  }

  private anomaly(c: CertObservation, i: AnomalyIndicator, day: number, t: number, trust: number): Anomaly {
    const heuristic = i.kind === "issuer_change" || i.kind === "premature_replacement";
    return toAnomaly({
      detector: `cert.${i.kind}`,
      entityType: "certificate",
      entity: c.sha256,
      windowStartMs: day,
      windowEndMs: day + DAY,
      score: i.severity,
      confidence: heuristic ? 0.6 : 0.95,
      detectedAtMs: Math.floor(t),
      evidence: [
        evidence("severity", i.severity, "score", i.detail),
        evidence("trust_score", trust, "score"),
        evidence("days_to_expiry", (c.not_after_ms - t) / DAY, "days", new Date(c.not_after_ms).toISOString()),
        evidence("key_size", c.key_size, "bits", `${c.key_algorithm} ${c.signature_algorithm}`),
        evidence("chain_position", c.chain_position, "index", `of ${c.chain_length}`),
        evidence("san_count", c.san_dns.length + c.san_ip.length, "names", c.san_dns.slice(0, 3).join(" ")),
        evidence("server", c.server_port, "port", `${c.server_addr} sni=${c.sni ?? "-"} subject=${c.subject} issuer=${c.issuer}`),
      ],
      recommendation: certAdvice(i.kind, c),
    });
  }
}

function certAdvice(kind: IndicatorKind, c: CertObservation): string {
  const where = `${c.server_addr}:${c.server_port}${c.sni ? ` (${c.sni})` : ""}`;
  switch (kind) {
    case "expired":
      return `The certificate served by ${where} has expired: renew it now and automate renewal (ACME); clients that check validity fail against it.`;
    case "not_yet_valid":
      return `The certificate served by ${where} is not valid yet: check the server's and the clients' clocks, or the issuance.`;
    case "self_signed":
      return `${where} serves a self-signed certificate: replace it with one from a trusted CA, or pin it explicitly where a private service needs it; never teach users to click through.`;
    case "interception_ca":
      return `Traffic to ${where} is being intercepted by software whose CA key is public: remove the intercepting software and its root from the client ${c.client_addr}, and treat what it sent as exposed.`;
    case "weak_signature":
      return `A certificate in ${where}'s chain is signed with ${c.signature_algorithm}: reissue it with SHA-256 or better.`;
    case "weak_key":
      return `${where} uses a ${c.key_algorithm}-${c.key_size} key: reissue with RSA-2048+ or ECDSA P-256, and treat the old key as compromised.`;
    case "incomplete_chain":
      return `${where} sends its certificate without the intermediate: configure the full chain, or clients without a cached intermediate fail.`;
    case "san_explosion":
      return `${where}'s certificate covers ${c.san_dns.length} names with one key: split it so a compromise of one service does not expose all.`;
    case "long_validity":
      return `${where}'s certificate is valid longer than the CA/Browser Forum allows for its issuance date: browsers reject it; reissue.`;
    case "no_sct":
      return `${where}'s certificate carries no Certificate Transparency proof: browsers reject it as publicly trusted; reissue through a CT-logging CA or serve SCTs by OCSP/TLS.`;
    case "name_mismatch":
      return `${where} answers ${c.sni ?? "?"} with a certificate for other names: a misconfigured virtual host or an interception; check the server's configuration.`;
    case "issuer_change":
      return `The certificate for ${c.sni ?? where} now comes from a different CA: confirm the change with the domain's owner (a CA switch, or mis-issuance/interception); check CT logs for the name.`;
    case "premature_replacement":
      return `The certificate for ${c.sni ?? where} was replaced long before it was due: confirm the reissue with the domain's owner (key compromise, or an attacker's certificate); check CT logs for the name.`;
    case "long_chain":
      return `${where} sends ${c.chain_length} certificates: drop unneeded cross-signs to shorten every handshake.`;
    case "no_subject":
      return `${where}'s certificate names nothing: reissue it with the service's DNS names.`;
    case "usage_spike":
      return `Use of the certificate served by ${where} jumped: check whether a new client population or a scanner explains it.`;
  }
}
