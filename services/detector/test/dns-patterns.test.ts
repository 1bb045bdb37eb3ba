// Tests of the DnsPatternAnalyzer: batch analysis of a query set, batch detection composed of the three
// detectors, and per-domain volume prediction with intervals from the streaming history.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Anomaly } from "../../../lib/src/avro.js";
import { DnsPatterns, type DnsPatternAnalyzer } from "../src/dns-patterns.js";
import { dns, dnsResponse } from "./events.js";

const T0 = 1_700_000_040_000;

test("analyzeQueryPatterns summarises queries, answers and tunnel scores", async () => {
  const a: DnsPatternAnalyzer = new DnsPatterns();
  const events = [
    ...Array.from({ length: 30 }, (_, i) => dns({ t: T0 + i, qname: `${"x".repeat(10)}${i.toString(36)}q${(i * 7919).toString(36)}.t.example.net`, qtype: 16 })),
    ...Array.from({ length: 10 }, (_, i) => dns({ t: T0 + 100 + i, qname: "www.example.org", src_addr: "198.18.0.11" })),
    dnsResponse({ t: T0 + 200, qname: "nope.example.org", rcode: 3, response_time_us: 1000 }),
    dnsResponse({ t: T0 + 201, qname: "www.example.org", response_time_us: 3000 }),
  ];
  const r = await a.analyzeQueryPatterns(events);
  assert.equal(r.queries, 40);
  assert.equal(r.responses, 2);
  assert.equal(r.nxdomainShare, 0.5);
  assert.deepEqual(r.topDomains[0], { domain: "example.net", queries: 30 });
  assert.equal(r.qtypes["TXT"], 30);
  assert.equal(r.distinctSources, 2);
  assert.equal(r.responseTimeUs?.p50, 2000);
  assert.equal(r.tunnelScores[0]?.domain, "example.net");
  assert.equal(r.spanMs, 201);
});

test("detectDnsAnomalies runs every DNS detector over a batch", async () => {
  const a = new DnsPatterns();
  const storm = Array.from({ length: 50 }, (_, i) => dnsResponse({ t: T0 + i * 10, client: "198.18.0.99", qname: `q${(i * 2654435761) % 999983}zz.example`, rcode: 3 }));
  const found = await a.detectDnsAnomalies(storm);
  assert.deepEqual(found.map((x) => x.detector), ["dns.nxdomain_storm"]);
});

test("predictQueryVolume: a steady domain is predicted near its level with an interval around it", async () => {
  const a = new DnsPatterns();
  const out: Anomaly[] = [];
  for (let m = 0; m < 40; m++) {
    const n = 100 + ((m * 7) % 11) - 5;
    for (let i = 0; i < n; i++) a.observe(dns({ t: T0 + m * 60_000 + i * 10, qname: "api.steady.example" }), out);
  }
  const p = await a.predictQueryVolume("steady.example", 300_000);
  assert.ok(p !== null);
  assert.equal(p.history, 39);
  assert.equal(p.intervalMs, 60_000);
  assert.ok(Math.abs(p.atHorizon.mean - 100) < 10, `${p.atHorizon.mean}`);
  assert.ok(p.atHorizon.lower < 100 && p.atHorizon.upper > 100);
  assert.ok(p.atHorizon.lower >= 0);
  assert.equal(await a.predictQueryVolume("never.example", 60_000), null);
});

test("volume history counts empty minutes as zero", () => {
  const a = new DnsPatterns();
  const out: Anomaly[] = [];
  a.observe(dns({ t: T0, qname: "a.gap.example" }), out);
  a.observe(dns({ t: T0 + 3 * 60_000, qname: "a.gap.example" }), out);
  assert.deepEqual(a.volumeOf("gap.example")?.counts, [1, 0, 0, 1]);
});
