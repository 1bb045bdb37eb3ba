// Several nodes: two collectors on two lab nodes (namespaces behind their own veths), each attached to its
// own interface, follow one model topic on the real broker: one published update reaches both kernels
// byte for byte, and both publish the DNS records of the queries sent from their namespace.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeAs, type DnsEvent } from "../../../lib/src/avro.js";
import { createAdmin, createConsumer, createProducer, type ConsumedRecord, type KafkaConnection } from "../../../lib/src/kafka.js";
import { createLogger } from "../../../lib/src/log.js";
import { encodeModel } from "../../../lib/src/model/layout.js";
import { modelUpdateOf } from "../../../lib/src/model/model-update.js";
import { generateSigningKey, signModelUpdate } from "../../../lib/src/model/signing.js";
import { stackEndpoints } from "../../../lib/src/stack-endpoints.js";
import { fixtureModel } from "../../../test/kernel/fixture-runner.js";
import { buildKernelObjects } from "../../../test/kernel/kernel.js";
import { startXdpCollector, type CollectorTopics, type XdpCollector } from "../src/xdp-collector.js";
import { createLabNode, dnsResponder, queryFromPeer, type LabNode } from "./lab-net.js";
import { SMALL_TABLES } from "./xdp-harness.js";

const run = randomUUID().slice(0, 8);
const MODEL = `test-model-${run}`;
const topics: CollectorTopics = {
  dns: `test.nodes.${run}.dns`,
  flows: `test.nodes.${run}.flows`,
  certs: `test.nodes.${run}.certs`,
  features: `test.nodes.${run}.features`,
  modelUpdates: `test.nodes.${run}.models`,
};
const kafka: KafkaConnection = { brokers: stackEndpoints().brokers, clientId: `stoq-test-${run}` };
const log = createLogger("xdp-nodes-test", "silent");
const key = generateSigningKey();
const admin = createAdmin(kafka);
const nodes: LabNode[] = [];
const collectors: XdpCollector[] = [];
const responders: { close(): void }[] = [];

before(async () => {
  buildKernelObjects();
  await admin.createTopics([
    ...[topics.dns, topics.flows, topics.certs, topics.features].map((name) => ({ name, partitions: 2 })),
    { name: topics.modelUpdates, partitions: 1, config: { "cleanup.policy": "compact" } },
  ]);
});

after(async () => {
  for (const c of collectors) await c.close().catch(() => undefined);
  for (const r of responders) r.close();
  for (const n of nodes) n.remove();
  await admin.deleteTopics(Object.values(topics)).catch(() => undefined);
  await admin.close();
});

async function until(what: string, f: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function readAll(topic: string, enough: (got: ConsumedRecord[]) => boolean): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = createConsumer(kafka, {
    groupId: `test.nodes.${run}.reader`,
    topics: [topic],
    logger: log,
    eachBatch: (b) => {
      got.push(...b.records);
      if (enough(got)) done();
      return Promise.resolve();
    },
  });
  await consumer.start();
  const timer = setTimeout(done, 20_000);
  await finished;
  clearTimeout(timer);
  await consumer.close();
  return got;
}

test("two collectors on two lab nodes apply the same model update and both publish their records", { timeout: 120_000 }, async () => {
  for (const [i, name] of ["a", "b"].entries()) {
    const n = createLabNode(`node${name}`, 2 + i);
    nodes.push(n);
    responders.push(await dnsResponder(n.hostIp));
    collectors.push(
      await startXdpCollector({
        node: `node-${name}`,
        instance: `test-${run}-${name}`,
        log,
        kafka,
        interface: n.hostIf,
        xdpMode: "native",
        enforcement: "observe",
        inference: true,
        actOnVerdicts: true,
        ringBufferBytes: 1 << 20,
        flowsMax: 1024,
        flowActiveTimeoutMs: 60_000,
        flowIdleTimeoutMs: 30_000,
        maxBufferedRecords: 10_000,
        modelName: MODEL,
        trustedKeys: [key.publicKey],
        pinDir: null,
        topics,
        maxEntries: SMALL_TABLES,
      }),
    );
  }
  const model = fixtureModel("benign", 41n);
  const producer = createProducer(kafka, { logger: log });
  try {
    await producer.send(topics.modelUpdates, [
      { key: MODEL, value: signModelUpdate(modelUpdateOf(model, { modelName: MODEL, createdAtMs: Date.now(), threatThreshold: 0.85, outputScale: 0.01, metrics: {} }), key) },
    ]);
  } finally {
    await producer.close();
  }
  await until("both nodes applied v41", () => collectors.every((c) => c.sink.version === 41n));
  for (const c of collectors) {
    const active = c.sink.control.active;
    assert.deepEqual(c.kernel.map("stoq_models").lookup(Buffer.from([active, 0, 0, 0])), encodeModel(model), "the same bytes in each kernel");
  }

  const names = ["www.example.com", "mail.example.org", "cdn.example.net"];
  for (const n of nodes) assert.equal(await queryFromPeer(n, n.hostIp, names), names.length);
  for (const c of collectors) await c.settled();
  const dns = (await readAll(topics.dns, (g) => g.length >= 4 * names.length)).map((r) => decodeAs<DnsEvent>("DnsEvent", r.value!));
  for (const [i, name] of ["node-a", "node-b"].entries()) {
    const mine = dns.filter((d) => d.node === name);
    assert.equal(mine.length, 2 * names.length, `${name}: queries and answers`);
    const queries = mine.filter((d) => !d.is_response);
    assert.ok(queries.every((q) => q.src_addr === nodes[i]!.peerIp && q.model_version === 41));
  }
});
