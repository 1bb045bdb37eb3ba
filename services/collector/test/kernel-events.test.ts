// XDP mode's event mapping against pcap mode on the same packets: DNS queries and answers run through the
// kernel programs give the DnsEvent records the user-space observer gives (plus the kernel's score,
// verdict and model version, and a response time from the kernel's clock), scored queries give their
// FeatureVector, and the certificates of a real TLS 1.2 handshake (Zeek's test capture) give pcap mode's
// CertObservations and a server fact in the kernel map.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { nameFeaturesOf } from "../../../lib/src/model/features.js";
import { fixtureModel } from "../../../test/kernel/fixture-runner.js";
import { buildPacket } from "../../../test/kernel/packets.js";
import { KernelClock } from "../src/kernel-clock.js";
import { KernelEventMapper, type MappedRecord } from "../src/kernel-events.js";
import { INITIAL_CONTROL } from "../src/kernel-loader.js";
import { encodeServerKey } from "../src/kernel-layout.js";
import { KernelModelSink } from "../src/kernel-model-sink.js";
import { Observer, type Observation } from "../src/observer.js";
import { readCapture, type CapturedPacket } from "../src/pcap.js";
import { certObservation, dnsEvent } from "../src/records.js";
import { certAgeHours, ServerFacts } from "../src/server-facts.js";
import { decodeServerFacts, KernelHarness } from "./xdp-harness.js";

const NODE = "node-a";
const TLS12 = "../shared/data/peer/zeek/tls12-rsa-chain/tls1.2.pcap";

let h: KernelHarness;
before(() => {
  h = KernelHarness.open();
});
after(async () => {
  await h?.close();
});

function mapAll(mapper: KernelEventMapper, batches: Awaited<ReturnType<KernelHarness["take"]>>): MappedRecord[] {
  const out: MappedRecord[] = [];
  for (const b of batches) mapper.batch(b, out);
  return out;
}

/** pcap mode's observations of the same frames (Ethernet), one microsecond apart. */
function observe(frames: readonly Buffer[]): Observation[] {
  const seen: Observation[] = [];
  const o = new Observer((x) => seen.push(x));
  frames.forEach((data, i) => o.capture({ tsUs: 1_700_000_000_000_000 + i, linkType: 1, data, origLen: data.length, interfaceId: 0 }));
  o.flush();
  return seen;
}

const withoutTimes = <T extends object>(v: T, fields: readonly string[]): Partial<T> =>
  Object.fromEntries(Object.entries(v).filter(([k]) => !fields.includes(k))) as Partial<T>;

const ANSWER_A = "c00c" + "0001" + "0001" + "0000012c" + "0004" + "c6120505";

test("a DNS query and its answer through the kernel give pcap mode's DnsEvents, the answer timed by the kernel clock", async () => {
  const query = buildPacket({ ipv4: { src: "198.18.1.10", dst: "198.18.1.53" }, udp: { sport: 40000, dport: 53 }, dns: { id: 0x4242, qname: "www.Example.com" } });
  const answer = buildPacket({
    ipv4: { src: "198.18.1.53", dst: "198.18.1.10" },
    udp: { sport: 53, dport: 40000 },
    dns: { id: 0x4242, qname: "www.Example.com", response: true, ancount: 1, tailHex: ANSWER_A },
  });
  h.run([query], "xdp");
  h.run([answer], "tc");
  const mapper = new KernelEventMapper({ node: NODE, clock: new KernelClock(), facts: null });
  const records = mapAll(mapper, await h.take()).filter((r): r is Extract<MappedRecord, { name: "DnsEvent" }> => r.name === "DnsEvent");
  const reference = observe([query, answer]).flatMap((o) => (o.kind === "dns" ? [dnsEvent(o, NODE)] : []));
  assert.equal(records.length, 2);
  assert.equal(reference.length, 2);
  const timing = ["event_time_us", "response_time_us", "model_score", "verdict", "model_version"];
  for (const [i, r] of records.entries()) {
    assert.equal(r.key, reference[i]!.key);
    assert.equal(r.key, "example.com");
    assert.deepEqual(withoutTimes(r.value, timing), withoutTimes(reference[i]!.value, timing));
    assert.ok(Math.abs(r.value.event_time_us - Date.now() * 1000) < 5_000_000, `event time ${r.value.event_time_us} is now`);
  }
  const q = records[0]!;
  const a = records[1]!;
  assert.equal(a.value.answers[0]?.data, "198.18.5.5");
  assert.equal(a.value.response_time_us, a.value.event_time_us - q.value.event_time_us);
  assert.ok(a.value.response_time_us !== null && a.value.response_time_us >= 0);
  assert.equal(a.value.query_size, q.value.query_size);
  // Unscored (no model yet): no verdict, and the feature vector says so.
  assert.equal(q.value.model_score, null);
});

test("scored queries carry the kernel's score, verdict and model version, and their exact feature vector", async () => {
  const sink = new KernelModelSink(h.kernel.map("stoq_models"), h.kernel.map("stoq_ngrams"), h.kernel.map("stoq_control"), INITIAL_CONTROL);
  sink.apply(fixtureModel("threat", 7n));
  const mapper = new KernelEventMapper({ node: NODE, clock: new KernelClock(), facts: null });
  const frame = (sport: number): Buffer =>
    buildPacket({ ipv4: { src: "198.18.1.11", dst: "198.18.1.53" }, udp: { sport, dport: 53 }, dns: { id: sport, qname: "x7kq2mzp.example.net" } });

  sink.setMode("observe");
  h.run([frame(41000)]);
  sink.setMode("enforce");
  const verdicts = h.run([frame(41001)]);
  assert.equal(verdicts[0], 1, "XDP_DROP in enforce mode");
  const out = mapAll(mapper, await h.take());
  const dns = out.filter((r) => r.name === "DnsEvent").map((r) => r.value);
  const fv = out.filter((r) => r.name === "FeatureVector").map((r) => r.value);
  assert.deepEqual(dns.map((d) => [d.verdict, d.model_version, d.model_score !== null]), [["observe", 7, true], ["drop", 7, true]]);
  assert.deepEqual(fv.map((v) => [v.verdict, v.model_version, v.score, v.slot, v.context, v.src_addr]), [
    ["observe", 7, dns[0]!.model_score, "active", "x7kq2mzp.example.net", "198.18.1.11"],
    ["drop", 7, dns[1]!.model_score, "active", "x7kq2mzp.example.net", "198.18.1.11"],
  ]);
  assert.equal(fv[0]!.values.length, 32);
  // The kernel's name features are feature_spec v1's, as the user-space reference computes them.
  assert.deepEqual(fv[0]!.values.slice(0, 16), Array.from(nameFeaturesOf("x7kq2mzp.example.net", loadBigramTable())!));
  sink.setMode("observe");
});

test("a TLS 1.2 handshake's certificates (Zeek's capture) give pcap mode's CertObservations and a server fact", async () => {
  const packets: CapturedPacket[] = [];
  for await (const p of readCapture(TLS12)) packets.push(p);
  const frames = packets.map((p) => p.data);
  const facts = new ServerFacts(h.kernel.map("stoq_servers"));
  const mapper = new KernelEventMapper({ node: NODE, clock: new KernelClock(), facts });
  h.run(frames);
  const certs = mapAll(mapper, await h.take()).filter((r) => r.name === "CertObservation").map((r) => r.value);
  const reference = observe(frames).flatMap((o) => (o.kind === "cert" ? [certObservation(o, NODE).value] : []));
  assert.ok(reference.length >= 2, "the capture holds a chain");
  assert.deepEqual(
    certs.map((c) => withoutTimes(c, ["event_time_us"])),
    reference.map((c) => withoutTimes(c, ["event_time_us"])),
  );
  assert.deepEqual(mapper.stats.tlsErrors, {});
  const leaf = certs[0]!;
  const value = h.kernel.map("stoq_servers").lookup(encodeServerKey(leaf.server_addr));
  assert.ok(value, `a fact for ${leaf.server_addr}`);
  assert.deepEqual(decodeServerFacts(value), { certAgeHours: certAgeHours(leaf.not_before_ms, Date.now()), chainLen: reference.length });
});
