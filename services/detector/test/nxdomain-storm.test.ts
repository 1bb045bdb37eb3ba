// Tests of NXDOMAIN storms: a host asking for a hundred generated names is flagged with its evidence; a
// host with ordinary misses is not; a host that always misses this much is not, once its baseline knows it.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Anomaly } from "../../../lib/src/avro.js";
import { NxdomainStormDetector } from "../src/nxdomain-storm.js";
import { dnsResponse } from "./events.js";

const T0 = 1_700_000_040_000;

function generated(i: number): string {
  let s = i * 2654435761;
  let out = "";
  for (let k = 0; k < 14; k++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out += "abcdefghijklmnopqrstuvwxyz"[s % 26];
  }
  return `${out}.com`;
}

test("a DGA-like storm is flagged; ordinary misses are not", () => {
  const d = new NxdomainStormDetector();
  const out: Anomaly[] = [];
  for (let i = 0; i < 100; i++) {
    d.observe(dnsResponse({ t: T0 + i * 100, client: "198.18.0.66", qname: generated(i), rcode: 3 }), out);
    d.observe(dnsResponse({ t: T0 + i * 100 + 1, client: "198.18.0.20", qname: i % 20 === 0 ? "typo.example" : "www.example.com", rcode: i % 20 === 0 ? 3 : 0 }), out);
  }
  d.flush(out);
  assert.deepEqual(out.map((a) => a.entity), ["198.18.0.66"]);
  const a = out[0]!;
  assert.equal(a.detector, "dns.nxdomain_storm");
  assert.equal(a.entity_type, "source");
  const ev = new Map(a.evidence.map((e) => [e.name, e]));
  assert.equal(ev.get("nxdomain_responses")?.value, 30, "fires at the 30th miss");
  assert.equal(ev.get("nxdomain_share")?.value, 1);
  assert.equal(ev.get("distinct_nx_names")?.value, 30);
  assert.ok(a.detected_at_ms < T0 + 60_000);
  assert.ok(["medium", "high"].includes(a.threat_level), a.threat_level);
  assert.match(a.recommendation, /isolate 198\.18\.0\.66/);
});

test("a host that always misses this much is not flagged once its baseline knows it", () => {
  const d = new NxdomainStormDetector({ warmupWindows: 5 });
  const out: Anomaly[] = [];
  for (let w = 0; w < 12; w++) {
    for (let i = 0; i < 40; i++) d.observe(dnsResponse({ t: T0 + w * 60_000 + i * 1000, client: "198.18.0.77", qname: `host${i}.corp.invalid`, rcode: 3 }), out);
  }
  d.flush(out);
  // Flagged while there was no baseline (the first 6 windows: 5 to warm up, then the first scored one
  // at z < 3 is skipped), quiet afterwards.
  const windows = out.map((a) => (a.window_start_ms - T0) / 60_000);
  assert.ok(windows.length >= 5 && windows.every((w) => w < 6), JSON.stringify(windows));
});
