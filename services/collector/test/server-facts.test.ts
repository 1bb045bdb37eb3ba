// Server facts in the kernel map: what record() writes is what the kernel joins on (a query to that server
// reads FACT_PRESENT, the certificate's age and chain length), ages are rewritten as hours pass, and the
// map never overflows: the least recently seen server makes room.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FEATURE } from "../../../lib/src/model/features.js";
import { buildPacket } from "../../../test/kernel/packets.js";
import { KernelClock } from "../src/kernel-clock.js";
import { KernelEventMapper, type MappedRecord } from "../src/kernel-events.js";
import { encodeServerKey } from "../src/kernel-layout.js";
import { certAgeHours, ServerFacts } from "../src/server-facts.js";
import { decodeServerFacts, KernelHarness, SMALL_TABLES } from "./xdp-harness.js";

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 0, 10, 12, 30);

let h: KernelHarness;
before(() => {
  h = KernelHarness.open();
});
after(async () => {
  await h?.close();
});

test("a fact is what the kernel joins on for queries to that server", async () => {
  const facts = new ServerFacts(h.kernel.map("stoq_servers"));
  facts.record("198.18.4.53", Date.now() - 50 * HOUR - 60_000, 3);
  h.run([buildPacket({ ipv4: { src: "198.18.4.10", dst: "198.18.4.53" }, udp: { sport: 45000, dport: 53 }, dns: { qname: "www.example.com" } })]);
  const out: MappedRecord[] = [];
  const mapper = new KernelEventMapper({ node: "n", clock: new KernelClock(), facts: null });
  for (const b of await h.take()) mapper.batch(b, out);
  const fv = out.find((r) => r.name === "FeatureVector");
  assert.ok(fv?.name === "FeatureVector");
  assert.deepEqual(fv.value.values.slice(FEATURE.FACT_PRESENT, FEATURE.FACT_PRESENT + 3), [1, 50, 3]);
});

test("ages are rewritten when their hour changes; the least recently seen server makes room when full", () => {
  const map = h.kernel.map("stoq_servers");
  const facts = new ServerFacts(map);
  const notBefore = NOW - 10 * HOUR;
  facts.record("2001:db8::1", notBefore, 2, NOW);
  const key = encodeServerKey("2001:db8::1");
  assert.deepEqual(decodeServerFacts(map.lookup(key)!), { certAgeHours: 10, chainLen: 2 });
  const written = facts.stats.written;
  facts.refresh(NOW + 10 * 60_000);
  assert.equal(facts.stats.written, written, "same hour: nothing rewritten");
  facts.refresh(NOW + HOUR);
  assert.deepEqual(decodeServerFacts(map.lookup(key)!), { certAgeHours: 11, chainLen: 2 });
  assert.equal(certAgeHours(NOW + HOUR, NOW), 0, "a certificate from the future is 0 hours old");

  for (const k of [...map.keys()]) map.delete(k);
  const full = new ServerFacts(map);
  for (let i = 0; i < SMALL_TABLES.stoq_servers + 1; i++) full.record(`198.18.5.${i}`, notBefore, 1, NOW);
  assert.equal(full.size, SMALL_TABLES.stoq_servers);
  assert.equal(full.stats.evicted, 1);
  assert.equal(map.lookup(encodeServerKey("198.18.5.0")), null, "the oldest server was removed from the kernel map too");
  assert.ok(map.lookup(encodeServerKey(`198.18.5.${SMALL_TABLES.stoq_servers}`)));
  assert.equal(full.stats.failed, 0);
});
