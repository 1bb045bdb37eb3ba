// Tests of amplification per client: a spoofed victim flooded with large answers to queries it never sent
// is flagged; a busy but ordinary client is not.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Anomaly } from "../../../lib/src/avro.js";
import { AmplificationDetector } from "../src/dns-amplification.js";
import { dns, dnsResponse } from "./events.js";

const T0 = 1_700_000_040_000;

test("unsolicited large ANY answers to one host are an amplification attack on it", () => {
  const d = new AmplificationDetector();
  const out: Anomaly[] = [];
  for (let i = 0; i < 2000; i++) {
    d.observe(dnsResponse({ t: T0 + i * 10, client: "198.18.5.5", src_addr: `198.18.9.${i % 50}`, qname: "big.example", qtype: 255, query_size: null, response_size: 3000, response_time_us: null }), out);
    d.observe(dns({ t: T0 + i * 10 + 1, src_addr: "198.18.0.20", qname: "www.example.com", query_size: 40 }), out);
    d.observe(dnsResponse({ t: T0 + i * 10 + 2, client: "198.18.0.20", qname: "www.example.com", query_size: 40, response_size: 200 }), out);
  }
  d.flush(out);
  assert.deepEqual(out.map((a) => a.entity), ["198.18.5.5"]);
  const ev = new Map(out[0]!.evidence.map((e) => [e.name, e]));
  assert.equal(ev.get("unsolicited_response_share")?.value, 1);
  assert.equal(ev.get("reflecting_servers")?.value, 50);
  assert.ok(ev.get("response_bytes_in")!.value >= 1_000_000);
  assert.equal(ev.get("response_bandwidth")?.unit, "bit/s");
  assert.match(out[0]!.recommendation, /reflection\/amplification attack/);
});

test("a client receiving a lot but only what it asked for at a normal ratio is not flagged", () => {
  const d = new AmplificationDetector({ minResponseBytes: 100_000 });
  const out: Anomaly[] = [];
  for (let i = 0; i < 2000; i++) {
    d.observe(dns({ t: T0 + i * 20, qname: `n${i}.example.com`, query_size: 60 }), out);
    d.observe(dnsResponse({ t: T0 + i * 20 + 1, qname: `n${i}.example.com`, query_size: 60, response_size: 400 }), out);
  }
  d.flush(out);
  assert.deepEqual(out, []);
});
