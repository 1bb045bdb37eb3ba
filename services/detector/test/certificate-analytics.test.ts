// Tests of CertificateAnalytics on the certificate chains the badssl.com hosts serve (nobody here wrote
// them), parsed by the collector's X.509 parser, at a FIXED reference time per case (every leaf has expired
// by now): each deliberate defect is found, and the clean cases have none. Then the name-history
// indicators, renewal prediction and usage on observations built here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Anomaly, CertObservation } from "../../../lib/src/avro.js";
import { certObservation } from "../../collector/src/records.js";
import { parseCertificate } from "../../collector/src/x509.js";
import { CertificateAnalytics, chainHealth, nameMatches, type ChainIssueKind } from "../src/certificate-analytics.js";
import { cert } from "./events.js";

const BADSSL = new URL("../../../../shared/data/certs/badssl/", import.meta.url);
const DAY = 86_400_000;

/** The chain a badssl file holds (leaf first) as the collector would report it, observed at `atMs` (default notBefore + 1 day). */
function chain(file: string, atMs?: (leafNotBefore: number, leafNotAfter: number) => number): CertObservation[] {
  const pem = readFileSync(new URL(file, BADSSL), "utf8");
  const ders = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
  const infos = ders.map((d) => {
    const c = parseCertificate(d);
    if (typeof c === "string") throw new Error(`${file}: ${c}`);
    return c;
  });
  const leaf = infos[0]!;
  const t = (atMs ?? ((nb) => nb + DAY))(leaf.notBeforeMs, leaf.notAfterMs);
  return infos.map(
    (info, i) =>
      certObservation(
        { kind: "cert", tsUs: t * 1000, cert: info, chainPosition: i, chainLength: infos.length, fromClient: false, sni: null, server: "198.18.1.1", serverPort: 443, client: "198.18.0.10", tlsVersion: 0x0303, sctExtension: false },
        "test",
      ).value,
  );
}

function issuesOf(obs: readonly CertObservation[]): Map<number, ChainIssueKind[]> {
  return new Map(obs.map((o) => [o.chain_position, chainHealth(o, o.event_time_us / 1000).map((i) => i.kind).sort()]));
}

const CASES: [file: string, leafIssues: ChainIssueKind[]][] = [
  ["wildcard-self-signed.pem", ["self_signed"]],
  ["wildcard-incomplete-chain.pem", ["incomplete_chain"]],
  ["old__wildcard-incomplete-chain.pem", ["incomplete_chain"]],
  ["fallback.pem", ["incomplete_chain"]],
  ["wildcard-sha1-2016.pem", ["weak_signature"]],
  ["wildcard-sha1-2017.pem", ["weak_signature"]],
  ["subdomain-1000-sans.pem", ["san_explosion"]],
  ["subdomain-10000-sans.pem", ["san_explosion"]],
  ["subdomain-superfish.pem", ["incomplete_chain", "interception_ca"]],
  ["subdomain-edellroot.pem", ["incomplete_chain", "interception_ca"]],
  ["subdomain-dsdtestprovider.pem", ["incomplete_chain", "interception_ca"]],
  ["wildcard-rsa2048.pem", []],
  ["wildcard-rsa4096.pem", []],
  ["wildcard-rsa8192.pem", []],
  ["wildcard-ecc256.pem", []],
  ["wildcard-ecc384.pem", []],
  ["wildcard-sha384.pem", []],
  ["wildcard-sha512.pem", []],
  ["subdomain-extended-validation.pem", []],
  ["backup__wildcard-sha256-rsa2048-embeded-sct.crt", []],
];

for (const [file, expected] of CASES) {
  test(`badssl ${file}: leaf issues ${expected.join(", ") || "none"}`, () => {
    assert.deepEqual(issuesOf(chain(file)).get(0), expected);
  });
}

test("badssl wildcard-expired.pem: valid a day after issue, expired a day after its end", () => {
  assert.deepEqual(issuesOf(chain("wildcard-expired.pem")).get(0), []);
  assert.deepEqual(issuesOf(chain("wildcard-expired.pem", (_nb, na) => na + DAY)).get(0), ["expired"]);
  assert.deepEqual(issuesOf(chain("wildcard-expired.pem", (nb) => nb - DAY)).get(0), ["not_yet_valid"]);
});

test("badssl wildcard-sha1-intermediate.pem: the leaf is clean, the intermediate is SHA-1", () => {
  const issues = issuesOf(chain("wildcard-sha1-intermediate.pem"));
  assert.deepEqual(issues.get(0), []);
  assert.deepEqual(issues.get(1), ["weak_signature"]);
});

test("badssl subdomain-no-sct.pem: issued in 2021 without a CT proof", () => {
  const leaf = chain("subdomain-no-sct.pem")[0]!;
  assert.equal(leaf.sct_present, false);
  assert.deepEqual(issuesOf([leaf]).get(0), ["no_sct"]);
});

test("anomalies from a chain: one per issue, certificate entity, deterministic per day; trust and advice", () => {
  const a = new CertificateAnalytics();
  const out: Anomaly[] = [];
  const obs = chain("subdomain-superfish.pem");
  for (const o of obs) a.observe(o, out);
  for (const o of obs) a.observe({ ...o, event_time_us: o.event_time_us + 3_600_000_000 }, out);
  assert.deepEqual(out.map((x) => x.detector).sort(), ["cert.interception_ca"], "incomplete_chain (0.2) is below the anomaly cut-off; repeats the same day add nothing");
  const x = out[0]!;
  assert.equal(x.entity_type, "certificate");
  assert.equal(x.entity, obs[0]!.sha256);
  assert.equal(x.threat_level, "critical");
  assert.match(x.recommendation, /remove the intercepting software/);
  const analysis = a.analyzeCertificate(obs[0]!.sha256)!;
  assert.ok(analysis.trustScore < 0.1, `trust ${analysis.trustScore}`);
  assert.ok(analysis.revocationRisk > 0.9);
  assert.equal(analysis.observations, 2);
});

test("badssl set: trust is lowest for interception, highest for the clean cases; the trend summary counts issues", async () => {
  const a = new CertificateAnalytics();
  const out: Anomaly[] = [];
  const ref = Date.UTC(2020, 5, 1); // one reference time for all: some have expired by then, some not
  for (const [file] of CASES) for (const o of chain(file, () => ref)) a.observe(o, out);
  const t = await a.analyzeCertificateTrends(DAY, ref);
  const leafTrust = new Map(t.trends.map((x) => [x.certificateFingerprint, x.trustScore]));
  const superfish = chain("subdomain-superfish.pem", () => ref)[0]!.sha256;
  const clean = chain("wildcard-rsa2048.pem", () => ref)[0]!.sha256;
  assert.equal(t.trends[0]!.certificateFingerprint !== clean, true);
  assert.ok(leafTrust.get(superfish)! < 0.1);
  assert.equal(leafTrust.get(clean), 1);
  assert.ok((t.globalStatistics.issues.expired ?? 0) >= 5, JSON.stringify(t.globalStatistics));
  assert.ok(t.recommendations.some((r) => /interception/.test(r)));
  assert.ok(t.recommendations.some((r) => /expired/.test(r)));
});

test("RSA-8192 costs ~64x an RSA-2048 handshake", () => {
  const a = new CertificateAnalytics();
  const obs = chain("wildcard-rsa8192.pem");
  a.observe(obs[0]!, []);
  assert.equal(a.analyzeCertificate(obs[0]!.sha256)!.performanceImpact.relativeHandshakeCost, 64);
});

test("issuer change and premature replacement for a long-seen name; a normal renewal raises neither", () => {
  const t0 = Date.UTC(2024, 0, 1);
  const a = new CertificateAnalytics();
  const out: Anomaly[] = [];
  const base = { sni: "shop.example", san_dns: ["shop.example"], subject: "CN=shop.example" };
  a.observe(cert({ t: t0, sha256: "aa".repeat(32), not_before_ms: t0 - 10 * DAY, not_after_ms: t0 + 80 * DAY, ...base }), out);
  // 60 days on: a renewal from the same CA, with 20 of 90 days left on the old one.
  a.observe(cert({ t: t0 + 60 * DAY, sha256: "bb".repeat(32), not_before_ms: t0 + 60 * DAY - 3_600_000, not_after_ms: t0 + 150 * DAY, ...base }), out);
  assert.equal(out.length, 0);
  // 10 days later: a 1-hour-old certificate from another CA while the current one has 80 days left.
  a.observe(cert({ t: t0 + 70 * DAY, sha256: "cc".repeat(32), issuer: "CN=Other CA", not_before_ms: t0 + 70 * DAY - 3_600_000, not_after_ms: t0 + 160 * DAY, ...base }), out);
  assert.deepEqual(out.map((x) => x.detector).sort(), ["cert.issuer_change", "cert.premature_replacement"]);
  assert.ok(out.every((x) => x.confidence === 0.6));
  const analysis = a.analyzeCertificate("cc".repeat(32))!;
  assert.deepEqual(analysis.anomalyIndicators.map((i) => i.kind).sort(), ["issuer_change", "premature_replacement"]);
});

test("renewal: lifetime rule, then the observed cadence; due, overdue and expired", () => {
  const t0 = Date.UTC(2024, 0, 1);
  const a = new CertificateAnalytics();
  const base = { sni: "api.example", san_dns: ["api.example"], subject: "CN=api.example" };
  a.observe(cert({ t: t0 + DAY, sha256: "01".repeat(32), not_before_ms: t0, not_after_ms: t0 + 90 * DAY, ...base }), []);
  let r = a.analyzeCertificate("01".repeat(32), t0 + DAY)!.renewalPrediction;
  assert.equal(r.basis, "lifetime_rule");
  assert.equal(r.expectedRenewalMs, t0 + 60 * DAY);
  assert.equal(r.status, "ok");
  assert.equal(a.analyzeCertificate("01".repeat(32), t0 + 50 * DAY)!.renewalPrediction.status, "due");
  assert.equal(a.analyzeCertificate("01".repeat(32), t0 + 70 * DAY)!.renewalPrediction.status, "overdue");
  assert.equal(a.analyzeCertificate("01".repeat(32), t0 + 91 * DAY)!.renewalPrediction.status, "expired");
  // Renewed every 45 days: the cadence replaces the rule.
  a.observe(cert({ t: t0 + 46 * DAY, sha256: "02".repeat(32), not_before_ms: t0 + 45 * DAY, not_after_ms: t0 + 135 * DAY, ...base }), []);
  a.observe(cert({ t: t0 + 91 * DAY, sha256: "03".repeat(32), not_before_ms: t0 + 90 * DAY, not_after_ms: t0 + 180 * DAY, ...base }), []);
  r = a.analyzeCertificate("03".repeat(32), t0 + 91 * DAY)!.renewalPrediction;
  assert.equal(r.basis, "observed_cadence");
  assert.equal(r.cadenceDays, 45);
  assert.equal(r.expectedRenewalMs, t0 + 135 * DAY);
});

test("SNI not covered by the certificate's names is a mismatch; wildcards cover one label", () => {
  assert.equal(nameMatches("*.example.com", "a.example.com"), true);
  assert.equal(nameMatches("*.example.com", "a.b.example.com"), false);
  assert.equal(nameMatches("*.example.com", "example.com"), false);
  const t = Date.UTC(2024, 0, 1);
  assert.deepEqual(chainHealth(cert({ t, sni: "bank.example", san_dns: ["*.badssl.com"] }), t).map((i) => i.kind), ["name_mismatch"]);
  assert.deepEqual(chainHealth(cert({ t, sni: "x.badssl.com", san_dns: ["*.badssl.com"] }), t), []);
});
