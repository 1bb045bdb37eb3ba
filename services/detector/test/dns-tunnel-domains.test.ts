// Tests of the per-domain tunnel detector on names nobody here wrote: the netrack test split (dns2tcp,
// dnscapy, iodine, tuns tunnels and plain lookups of top sites), every query typed A so that the names
// alone decide; plus early firing, the unmatched-response rule and deterministic ids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Anomaly } from "../../../lib/src/avro.js";
import { registeredDomain } from "../../../lib/src/registered-domain.js";
import { domainOf, DomainTunnelDetector, subdomainOf } from "../src/dns-tunnel-domains.js";
import { dns, dnsResponse } from "./events.js";

const NETRACK = new URL("../../../../shared/data/dns-tunnel/netrack/test.csv", import.meta.url);
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);

function netrackByDomain(): Map<string, { tunnel: boolean; names: string[] }> {
  const out = new Map<string, { tunnel: boolean; names: string[] }>();
  for (const line of readFileSync(NETRACK, "utf8").trim().split("\n")) {
    const comma = line.indexOf(",");
    const name = line.slice(comma + 1).toLowerCase().replace(/\.$/, "");
    const rd = registeredDomain(name);
    const e = out.get(rd) ?? { tunnel: line.slice(0, comma) === "1", names: [] };
    e.names.push(name);
    out.set(rd, e);
  }
  return out;
}

test("netrack: every tunnel domain with 20+ distinct names is flagged, no plain domain is", () => {
  const byDomain = netrackByDomain();
  const d = new DomainTunnelDetector();
  const out: Anomaly[] = [];
  let t = T0;
  // One domain after another, 10 queries a second, at most one minute of each.
  for (const [rd, e] of [...byDomain].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    for (const qname of e.names.slice(0, 600)) d.observe(dns({ t: (t += 100), qname, registered_domain: rd }), out);
  }
  d.flush(out);
  const flagged = new Set(out.map((a) => a.entity));
  const tunnels = [...byDomain].filter(([, e]) => e.tunnel && new Set(e.names).size >= 20).map(([rd]) => rd);
  const plainWithMany = [...byDomain].filter(([, e]) => !e.tunnel && new Set(e.names).size >= 20).length;
  assert.ok(tunnels.length >= 3 && plainWithMany >= 5, `${tunnels.length} tunnel and ${plainWithMany} plain domains to judge`);
  assert.deepEqual([...flagged].sort(), tunnels.sort());
  for (const a of out) {
    assert.equal(a.detector, "dns.tunnel");
    assert.ok(a.evidence.some((e) => e.name === "mean_subdomain_length" && e.unit === "chars"));
    assert.match(a.recommendation, /block .* at the resolver/);
  }
});

test("fires while the window is open, once per window, with the same id on a replay", () => {
  const run = (): Anomaly[] => {
    const d = new DomainTunnelDetector();
    const out: Anomaly[] = [];
    for (let i = 0; i < 200; i++) {
      const label = Buffer.from(`chunk-${i}-of-the-secret-file-${i * 7919}`).toString("base64url").toLowerCase();
      d.observe(dns({ t: T0 + i * 50, qname: `${label.slice(0, 50)}.${label.slice(50)}x.exfil.example`, qtype: 16 }), out);
    }
    d.flush(out);
    return out;
  };
  const a = run();
  assert.equal(a.length, 1);
  assert.ok(a[0]!.detected_at_ms < T0 + 60_000, "detected before the window closed");
  assert.equal(a[0]!.entity, "exfil.example");
  assert.deepEqual(run().map((x) => x.id), [a[0]!.id]);
});

test("a response counts only when its query was not seen", () => {
  const d = new DomainTunnelDetector({ minDistinct: 2, threshold: 0 });
  const out: Anomaly[] = [];
  d.observe(dns({ t: T0, qname: "abc.example.net" }), out);
  d.observe(dnsResponse({ t: T0 + 1, qname: "abc.example.net", query_size: 40 }), out);
  d.observe(dnsResponse({ t: T0 + 2, qname: "def.example.net", query_size: null }), out);
  d.flush(out);
  assert.equal(out[0]?.evidence.find((e) => e.name === "queries")?.value, 2);
});

test("subdomainOf takes what is left of the registered domain", () => {
  assert.equal(subdomainOf("a.b.example.co.uk", "example.co.uk"), "a.b");
  assert.equal(subdomainOf("example.co.uk.", "example.co.uk"), "");
  assert.equal(subdomainOf("other.org", "example.org"), "");
});

test("a base64 tunnel name the public-suffix lookup refuses still has its parent domain", () => {
  assert.equal(domainOf({ qname: "q+z8anwaba.hidemyself.org", registered_domain: "q+z8anwaba.hidemyself.org" }), "hidemyself.org");
  assert.equal(domainOf({ qname: "a/b.c+d.tunnel.example.co.uk", registered_domain: "a/b.c+d.tunnel.example.co.uk" }), "example.co.uk");
  assert.equal(domainOf({ qname: "www.example.com", registered_domain: "example.com" }), "example.com");
  assert.equal(domainOf({ qname: "localhost", registered_domain: "localhost" }), "localhost");
});
