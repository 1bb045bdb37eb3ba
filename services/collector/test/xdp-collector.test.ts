// XDP mode end to end on a lab node (a namespace behind a veth) and the real broker: a collector set to
// enforce starts in observe and enforces once the newest model on the (unique) model topic is in the
// kernel; real DNS queries and a TLS 1.2 handshake from the namespace become DNS, feature, certificate
// and flow records on the unique topics; a server fact lands in the kernel; unsigned, tampered, stale
// updates and signed ones with a bad n-gram table (wrong length, bits or shift out of range) leave every
// model slot byte and every n-gram row byte as it was while the next good one is applied; the kernel
// counters reach /metrics; and close removes links, pins and directories.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { register, type Histogram } from "prom-client";
import { decodeAs, encode, type CertObservation, type DnsEvent, type FeatureVector, type FlowRecord, type ModelUpdate } from "../../../lib/src/avro.js";
import { createAdmin, createConsumer, createProducer, type ConsumedRecord, type KafkaConnection } from "../../../lib/src/kafka.js";
import { createLogger } from "../../../lib/src/log.js";
import { decodeControl, encodeNgramRows, MODE } from "../../../lib/src/model/layout.js";
import type { QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { modelUpdateOf, type UnsignedModelUpdate } from "../../../lib/src/model/model-update.js";
import { generateSigningKey, signModelUpdate } from "../../../lib/src/model/signing.js";
import { stackEndpoints } from "../../../lib/src/stack-endpoints.js";
import { buildKernelObjects } from "../../../test/kernel/kernel.js";
import { fixtureModel } from "../../../test/kernel/fixture-runner.js";
import { monotonicNowNs } from "../src/kernel-clock.js";
import { encodeServerKey } from "../src/kernel-layout.js";
import { startXdpCollector, type CollectorTopics, type XdpCollector } from "../src/xdp-collector.js";
import { createLabNode, dnsResponder, makeChain, queryFromPeer, tlsFromPeer, type LabNode } from "./lab-net.js";
import { decodeServerFacts, SMALL_TABLES } from "./xdp-harness.js";

const run = randomUUID().slice(0, 8);
const MODEL = `test-model-${run}`;
const topics: CollectorTopics = {
  dns: `test.collector.${run}.dns`,
  flows: `test.collector.${run}.flows`,
  certs: `test.collector.${run}.certs`,
  features: `test.collector.${run}.features`,
  modelUpdates: `test.collector.${run}.models`,
};
const kafka: KafkaConnection = { brokers: stackEndpoints().brokers, clientId: `stoq-test-${run}` };
const log = createLogger("xdp-collector-test", "silent");
const key = generateSigningKey();
const PIN_ROOT = `/sys/fs/bpf/stoq-test-${process.pid}-${run}`;
const SNI = "lab.stoq.test";
const NAMES = Array.from({ length: 12 }, (_, i) => (i % 4 === 3 ? `gone${i}.invalid` : `host${i}.example.com`));

const admin = createAdmin(kafka);
const producer = createProducer(kafka, { logger: log });
let node: LabNode | null = null;
let collector: XdpCollector | null = null;
let responder: Awaited<ReturnType<typeof dnsResponder>> | null = null;
let tlsServer: Server | null = null;
const certDir = mkdtempSync(join(tmpdir(), "stoq-xdp-test-"));

/** The benign fixture model with a 128-row n-gram table that differs per version (w2 = 0: still benign). */
function tableModel(version: bigint): QuantModel {
  const m = fixtureModel("benign", version);
  return { ...m, ngramBits: 7, ngramShift: 3, ngram: Int8Array.from({ length: 128 * m.nHidden }, (_, i) => ((i * 37 + Number(version)) % 256) - 128) };
}

function unsignedUpdate(version: bigint, createdAtMs = Date.now()): UnsignedModelUpdate {
  return modelUpdateOf(tableModel(version), { modelName: MODEL, createdAtMs, threatThreshold: 0.85, outputScale: 0.01, metrics: { auc: 0.9 } });
}

function update(version: bigint, createdAtMs = Date.now()): Buffer {
  return signModelUpdate(unsignedUpdate(version, createdAtMs), key);
}

async function publishModel(value: Buffer): Promise<void> {
  await producer.send(topics.modelUpdates, [{ key: MODEL, value }]);
}

async function readAll(topic: string, enough: (got: ConsumedRecord[]) => boolean, timeoutMs = 20_000): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = createConsumer(kafka, {
    groupId: `test.collector.${run}.reader.${randomUUID()}`,
    topics: [topic],
    logger: log,
    eachBatch: (b) => {
      got.push(...b.records);
      if (enough(got)) done();
      return Promise.resolve();
    },
  });
  await consumer.start();
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.close();
  return got;
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = await register.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
}

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const slotKey = (i: number): Buffer => Buffer.from([i, 0, 0, 0]);

before(async () => {
  buildKernelObjects();
  await admin.createTopics([
    ...[topics.dns, topics.flows, topics.certs, topics.features].map((name) => ({ name, partitions: 2 })),
    { name: topics.modelUpdates, partitions: 1, config: { "cleanup.policy": "compact" } },
  ]);
  node = createLabNode("xdpc", 1);
  responder = await dnsResponder(node.hostIp);
  const { key: tlsKey, chain } = makeChain(certDir, SNI);
  tlsServer = createServer({ key: tlsKey, cert: chain, maxVersion: "TLSv1.2" }, (s) => s.end());
  await new Promise<void>((resolve) => tlsServer!.listen(8443, node!.hostIp, resolve));
});

after(async () => {
  await collector?.close().catch(() => undefined);
  responder?.close();
  tlsServer?.close();
  node?.remove();
  rmSync(certDir, { recursive: true, force: true });
  execFileSync("rm", ["-rf", PIN_ROOT]);
  await producer.close();
  await admin.deleteTopics(Object.values(topics)).catch(() => undefined);
  await admin.close();
});

test("XDP mode on a lab node: enforce after catch-up, records from real traffic, bad updates change nothing, clean close", { timeout: 180_000 }, async () => {
  const lab = node!;
  // A late starter: the topic already holds v1 and the newest, v2.
  await publishModel(update(1n));
  await publishModel(update(2n));
  const c = await startXdpCollector({
    node: "lab-node-1",
    instance: `test-${run}`,
    log,
    kafka,
    interface: lab.hostIf,
    xdpMode: "native",
    enforcement: "enforce",
    inference: true,
    actOnVerdicts: true,
    ringBufferBytes: 1 << 20,
    flowsMax: 1024,
    flowActiveTimeoutMs: 60_000,
    flowIdleTimeoutMs: 30_000,
    maxBufferedRecords: 10_000,
    modelName: MODEL,
    trustedKeys: [key.publicKey],
    pinDir: `${PIN_ROOT}/${lab.hostIf}`,
    topics,
    maxEntries: SMALL_TABLES,
  });
  collector = c;
  const control = c.kernel.map("stoq_control");
  const models = c.kernel.map("stoq_models");

  // ---- enforce only once v2 is in the kernel ----
  await c.enforcing;
  assert.equal(c.sink.version, 2n);
  assert.deepEqual(decodeControl(control.lookup(slotKey(0))!).mode, MODE.enforce);
  assert.equal(await metric("stoq_collector_kernel_mode", { interface: lab.hostIf }), MODE.enforce);

  // ---- DNS from the namespace ----
  assert.equal(await queryFromPeer(lab, lab.hostIp, NAMES), NAMES.length, "every query answered (a benign model drops nothing)");
  // ---- a TLS 1.2 handshake, then the flow it made ----
  await tlsFromPeer(lab, lab.hostIp, 8443, SNI);
  await until("the certificates", () => c.mapper.stats.certificates >= 2);
  await c.settled();
  c.scanFlows(monotonicNowNs() + 10_000_000_000n);
  await c.settled();

  const dns = (await readAll(topics.dns, (g) => g.length >= 2 * NAMES.length)).map((r) => decodeAs<DnsEvent>("DnsEvent", r.value!));
  const queries = dns.filter((d) => !d.is_response);
  const answers = dns.filter((d) => d.is_response);
  assert.equal(queries.length, NAMES.length);
  assert.equal(answers.length, NAMES.length);
  assert.deepEqual(new Set(queries.map((q) => q.qname)), new Set(NAMES));
  for (const q of queries) {
    assert.equal(q.node, "lab-node-1");
    assert.equal(q.src_addr, lab.peerIp);
    assert.equal(q.model_version, 2);
    assert.equal(q.verdict, "pass");
  }
  assert.equal(answers.filter((a) => a.rcode === 3).length, NAMES.length / 4);
  assert.ok(answers.every((a) => a.response_time_us !== null && a.response_time_us >= 0), "every answer matched to its query");
  assert.ok(dns.every((d) => Math.abs(d.event_time_us - Date.now() * 1000) < 120_000_000), "wall-clock event times");

  const features = (await readAll(topics.features, (g) => g.length >= NAMES.length)).map((r) => decodeAs<FeatureVector>("FeatureVector", r.value!));
  assert.equal(features.length, NAMES.length);
  assert.ok(features.every((f) => f.model_version === 2 && f.values.length === 32 && f.src_addr === lab.peerIp));

  // Keyed by fingerprint, so the two may sit in different partitions: order by chain position.
  const certs = (await readAll(topics.certs, (g) => g.length >= 2))
    .map((r) => decodeAs<CertObservation>("CertObservation", r.value!))
    .sort((a, b) => a.chain_position - b.chain_position);
  assert.deepEqual(certs.map((x) => [x.subject, x.chain_position, x.chain_length, x.sni, x.server_addr, x.server_port, x.tls_version]), [
    [`CN=${SNI}`, 0, 2, SNI, lab.hostIp, 8443, 0x0303],
    ["CN=STOQ Lab CA", 1, 2, SNI, lab.hostIp, 8443, 0x0303],
  ]);
  assert.deepEqual(c.mapper.stats.tlsErrors, {}, "the segments captured after the certificates are not misread");
  const fact = c.kernel.map("stoq_servers").lookup(encodeServerKey(lab.hostIp));
  assert.ok(fact, "a server fact for the TLS server");
  assert.equal(decodeServerFacts(fact).chainLen, 2);

  const flows = (await readAll(topics.flows, (g) => g.some((r) => decodeAs<FlowRecord>("FlowRecord", r.value!).dst_port === 8443))).map((r) =>
    decodeAs<FlowRecord>("FlowRecord", r.value!),
  );
  const tlsFlow = flows.find((f) => f.dst_port === 8443);
  assert.ok(tlsFlow, "the TLS connection's flow");
  assert.equal(tlsFlow.src_addr, lab.peerIp);
  assert.equal(tlsFlow.end_reason, "fin");
  assert.ok(tlsFlow.packets_fwd >= 4 && tlsFlow.packets_rev >= 4);

  // ---- bad updates: the kernel keeps v2 and its table, byte for byte ----
  const ngrams = c.kernel.map("stoq_ngrams");
  const slots = (): Buffer[] => [0, 1, 2].map((i) => Buffer.from(models.lookup(slotKey(i))!));
  const tables = (): Buffer => Buffer.concat(ngrams.lookupBatch().values);
  const active = decodeControl(control.lookup(slotKey(0))!).active;
  const activeRows = (): Buffer => tables().subarray(active * 16384 * 64, active * 16384 * 64 + 128 * 64);
  assert.ok(activeRows().equals(Buffer.concat(encodeNgramRows(tableModel(2n)))), "v2's table is in the active slot's rows");
  const before = { slots: slots(), tables: tables(), control: Buffer.from(control.lookup(slotKey(0))!) };
  const bad = (r: string): Promise<number> => metric("stoq_model_updates_total", { result: r });
  const badSigBefore = await bad("bad_signature");
  const staleBefore = await bad("stale_version");
  const shapeBefore = await bad("shape");
  const rangeBefore = await bad("range");
  const good = decodeAs<ModelUpdate>("ModelUpdate", update(3n));
  const w1 = Buffer.from(good.w1);
  w1[0] = w1[0]! ^ 0x40;
  await publishModel(encode("ModelUpdate", { ...good, signature: Buffer.alloc(0) }));
  await publishModel(encode("ModelUpdate", { ...good, w1 }));
  await publishModel(update(1n));
  // Signed by the trusted key, newer, and wrong only in the table.
  const u3 = unsignedUpdate(3n);
  await publishModel(signModelUpdate({ ...u3, ngram: u3.ngram.subarray(1) }, key));
  await publishModel(signModelUpdate({ ...u3, ngram_bits: 15, ngram: Buffer.alloc(2 ** 15) }, key));
  await publishModel(signModelUpdate({ ...u3, ngram_shift: 17 }, key));
  await until(
    "six rejections",
    async () =>
      (await bad("bad_signature")) - badSigBefore === 2 &&
      (await bad("stale_version")) - staleBefore === 1 &&
      (await bad("shape")) - shapeBefore === 2 &&
      (await bad("range")) - rangeBefore === 1,
  );
  assert.deepEqual(slots(), before.slots, "every slot byte unchanged");
  assert.ok(tables().equals(before.tables), "every n-gram row byte unchanged");
  assert.deepEqual(control.lookup(slotKey(0)), before.control, "control unchanged");
  assert.equal(c.sink.version, 2n);
  await publishModel(update(3n));
  await until("v3 applied", () => c.sink.version === 3n);
  assert.equal(decodeControl(control.lookup(slotKey(0))!).mode, MODE.enforce, "still enforcing");

  // ---- metrics ----
  assert.ok((await metric("stoq_kernel_stat_total", { interface: lab.hostIf, hook: "xdp_ingress", stat: "dns_query" })) >= NAMES.length);
  assert.ok((await metric("stoq_kernel_stat_total", { interface: lab.hostIf, hook: "tc_egress", stat: "dns_response" })) >= NAMES.length);
  assert.equal(await metric("stoq_collector_shed_total", { interface: lab.hostIf, reason: "ring_reservation" }), 0);
  assert.equal(await metric("stoq_collector_shed_total", { interface: lab.hostIf, reason: "event_queue" }), 0);
  // Kernel-to-producer latency: observed for the drained batches, and on the kernel's clock (a wall-clock
  // mix-up would read decades; a wrong offset, negative values).
  const latency = (await (register.getSingleMetric("stoq_processing_latency_seconds") as Histogram | undefined)?.get())?.values.filter((v) => v.labels.interface === lab.hostIf) ?? [];
  const count = latency.find((v) => v.metricName === "stoq_processing_latency_seconds_count")?.value ?? 0;
  const sum = latency.find((v) => v.metricName === "stoq_processing_latency_seconds_sum")?.value ?? NaN;
  assert.ok(count > 0, "latency observed");
  assert.ok(sum > 0 && sum / count < 5, `mean kernel-to-producer latency ${sum / count} s`);

  // ---- close ----
  await c.close();
  collector = null;
  assert.doesNotMatch(execFileSync("ip", ["link", "show", lab.hostIf], { encoding: "utf8" }), /prog\/xdp/);
  assert.equal(existsSync(PIN_ROOT), false, "pins and their directories removed");
});
