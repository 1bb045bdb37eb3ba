// The detector service on the real broker and Redis: a steady baseline then a burst on a unique topic
// gives one anomaly with the expected id, evidence and level (in Kafka, Redis and the counter); revisions
// are not double-counted; a garbage record lands in the DLQ and the detector keeps going; a replay from the
// start by a new group publishes the same id.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { register } from "prom-client";
import { decodeAs, encode, type Anomaly, type DlqEntry, type Label, type WindowAggregate } from "../../../lib/src/avro.js";
import { loadConfig } from "../../../lib/src/config.js";
import { createAdmin, createConsumer, createProducer, type ConsumedRecord } from "../../../lib/src/kafka.js";
import { createLogger } from "../../../lib/src/log.js";
import { kafkaConnection, redisClient, type ServiceContext } from "../../../lib/src/service-runtime.js";
import { stackEndpoints } from "../../../lib/src/stack-endpoints.js";
import { anomalyId } from "../src/anomaly.js";
import { startDetector } from "../src/index.js";
import { readAnomaly, REDIS_KEYS } from "../src/state-store.js";
import { row, rowKey } from "./aggregates.js";
import { cert, dns, synOnly } from "./events.js";

const run = randomUUID().slice(0, 8);
const prefix = `test:detector:${run}:`;
const config = loadConfig({
  env: {
    ...process.env,
    STOQ__DETECTOR__WARMUP_WINDOWS: "10",
    STOQ__INFRASTRUCTURE__REDIS__KEY_PREFIX: JSON.stringify(prefix),
    STOQ__INFRASTRUCTURE__REDIS__URL: `${stackEndpoints().redisUrl}/0`,
    STOQ__INFRASTRUCTURE__KAFKA__BROKERS: JSON.stringify(stackEndpoints().brokers),
  },
});
const quiet = createLogger("detector-test", "silent");
const conn = kafkaConnection(config);
const admin = createAdmin(conn);
const topics = {
  aggregates: `test.detector.${run}.aggregates`,
  dns: `test.detector.${run}.dns`,
  flows: `test.detector.${run}.flows`,
  certs: `test.detector.${run}.certs`,
  labels: `test.detector.${run}.labels`,
  anomalies: `test.detector.${run}.anomalies`,
  dlq: `test.detector.${run}.dlq`,
};
const redis = redisClient(config);

function context(): ServiceContext {
  return { config, log: quiet, kafka: conn, instance: `test-${run}`, node: "test", redis: () => redisClient(config) };
}

after(async () => {
  await admin.deleteTopics(Object.values(topics));
  await admin.close();
  const keys = await redis.keys(`${prefix}*`);
  // KEYS returns full names; the client would prefix them again.
  if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(prefix.length)));
  redis.disconnect();
});

async function readUntil(topic: string, enough: (got: ConsumedRecord[]) => boolean, timeoutMs = 20_000): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = createConsumer(conn, {
    groupId: `test.detector.${run}.reader.${randomUUID()}`,
    topics: [topic],
    logger: quiet,
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

async function counted(detector: string, level: string): Promise<number> {
  const m = await register.getSingleMetric("stoq_anomalies_total")!.get();
  return m.values.find((v) => v.labels["detector"] === detector && v.labels["threat_level"] === level)?.value ?? 0;
}

const T0 = 1_750_000_000_000;
const BURST = 30;

/** Two aggregator tasks at 50 records each per 1 s window; window 20 revised three times by task 0; a burst in window 30. */
function input(): (WindowAggregate | Buffer)[] {
  const out: (WindowAggregate | Buffer)[] = [];
  for (let i = 0; i < 42; i++) {
    const start = T0 + i * 1000;
    if (i === 20) {
      // 60, 65, 70 are successive totals of task 0: the window holds 120, not 245.
      for (const [revision, count] of [60, 65, 70].entries()) out.push(row({ start, count, task: "dns-0", revision }));
      out.push(row({ start, count: 50, task: "dns-1" }));
      continue;
    }
    if (i === 12) out.push(Buffer.from("this is not an Avro record"));
    const burst = i === BURST;
    out.push(row({ start, count: burst ? 900 : 50, task: "dns-0", topK: burst ? [{ key: "tunnel.example", count: 850 }] : undefined }));
    if (i === 25) out.push(row({ start, count: 50, task: "dns-0" })); // a re-delivered revision
    out.push(row({ start, count: 50, task: "dns-1" }));
  }
  return out;
}

test("steady baseline then a burst: one anomaly with a deterministic id, evidence and level; DLQ; replay", async () => {
  await admin.createTopics(Object.values(topics).map((name) => ({ name, partitions: 1 })));
  const producer = createProducer(conn, { logger: quiet });
  await producer.send(
    topics.aggregates,
    input().map((r) => (Buffer.isBuffer(r) ? { key: "garbage", value: r } : { key: rowKey(r), value: encode("WindowAggregate", r) })),
  );
  await producer.close();
  const before = await counted("dns.rate_ewma", "high");

  const detector = await startDetector(context(), { topics, groupId: `test.detector.${run}.a` });
  const expectedId = anomalyId("dns.rate_ewma", "global", "all", T0 + BURST * 1000, 1000);
  try {
    const got = await readUntil(topics.anomalies, (g) => g.length >= 1);
    // Wait out the rest of the input: nothing else may be flagged (window 20 included).
    await new Promise((r) => setTimeout(r, 1500));
    const all = await readUntil(topics.anomalies, (g) => g.length >= 2, 2000);
    assert.ok(got.length >= 1, "an anomaly arrived");
    const anomalies = all.map((r) => decodeAs<Anomaly>("Anomaly", r.value!));
    assert.deepEqual(anomalies.map((a) => a.id), [expectedId], "exactly the burst window is flagged");
    const a = anomalies[0]!;
    assert.equal(all[0]!.key?.toString(), "all");
    assert.equal(a.detector, "dns.rate_ewma");
    assert.equal(a.entity_type, "global");
    assert.equal(a.window_start_ms, T0 + BURST * 1000);
    assert.equal(a.window_end_ms, T0 + BURST * 1000 + 1000);
    assert.equal(a.detected_at_ms, a.window_end_ms);
    assert.equal(a.threat_level, "high");
    const ev = new Map(a.evidence.map((e) => [e.name, e]));
    assert.equal(ev.get("window_count")?.value, 900);
    assert.equal(ev.get("window_count")?.unit, "records");
    assert.ok(Math.abs(ev.get("baseline_mean")!.value - 100) < 2, `baseline mean ${ev.get("baseline_mean")?.value}`);
    assert.ok(a.z_score! > 50, `z ${a.z_score}`);
    assert.ok(a.confidence > 0.99);
    assert.match(ev.get("top_share")?.detail ?? "", /tunnel\.example=850/);
    assert.match(a.recommendation, /^DNS volume is 8\.9x its baseline/);

    const dlq = await readUntil(topics.dlq, (g) => g.length >= 1);
    assert.equal(dlq.length, 1);
    const entry = decodeAs<DlqEntry>("DlqEntry", dlq[0]!.value!);
    assert.equal(entry.origin_topic, topics.aggregates);
    assert.equal(entry.value.toString(), "this is not an Avro record");
    assert.equal(entry.service, "detector");

    const h = await readAnomaly(redis, expectedId);
    assert.equal(h?.["threat_level"], "high");
    assert.equal(h?.["entity"], "all");
    assert.equal((JSON.parse(h?.["evidence"] ?? "[]") as unknown[]).length, a.evidence.length);
    assert.equal(await redis.zscore(REDIS_KEYS.recent, expectedId), String(a.detected_at_ms));
    assert.equal(await redis.hget(REDIS_KEYS.threat("global", "all"), "level"), "high");
    assert.ok(Number(await redis.ttl(REDIS_KEYS.anomaly(expectedId))) > 0, "anomaly hash has a TTL");
    assert.equal(await counted("dns.rate_ewma", "high"), before + 1);
  } finally {
    await detector.close();
  }

  // A replay of the same input by a fresh group publishes the same id again.
  const replay = await startDetector(context(), { topics, groupId: `test.detector.${run}.b` });
  try {
    const both = await readUntil(topics.anomalies, (g) => g.length >= 2);
    assert.deepEqual(both.map((r) => decodeAs<Anomaly>("Anomaly", r.value!).id), [expectedId, expectedId]);
  } finally {
    await replay.close();
  }
});

async function gauge(name: string): Promise<number | undefined> {
  return (await register.getSingleMetric(name)?.get())?.values[0]?.value;
}

test("DNS events, flows, certificates and labels: named detections arrive; labels move the error rates", async () => {
  const T1 = 1_750_000_020_000; // a minute boundary
  const DAY = 86_400_000;
  const producer = createProducer(conn, { logger: quiet });
  const tunnel = Array.from({ length: 60 }, (_, i) => {
    const label = Buffer.from(`part ${i} of the payroll export ${i * 7919}`).toString("hex");
    return dns({ t: T1 + i * 100, qname: `${label.slice(0, 60)}.${label.slice(60)}.exfil.example`, qtype: 16 });
  });
  const flood = Array.from({ length: 600 }, (_, i) => synOnly({ t: T1 + i / 10, src_addr: "198.18.66.6", src_port: 1024 + i, dst_addr: "198.18.1.80", dst_port: 80 }));
  const selfSigned = cert({ t: T1, sha256: "ab".repeat(32), self_signed: true, chain_length: 1, issuer: "CN=www.example.com", sni: "www.example.com" });
  const label = (entity_type: Label["entity_type"], entity: string, l: Label["label"]): Label => ({ entity_type, entity, label: l, family: null, source: "analyst", source_ref: null, confidence: 1, labelled_at_ms: T1, note: null });
  await producer.send(topics.dns, tunnel.map((e) => ({ key: e.registered_domain, value: encode("DnsEvent", e) })));
  await producer.send(topics.flows, flood.map((f) => ({ key: f.src_addr, value: encode("FlowRecord", f) })));
  await producer.send(topics.certs, [{ key: selfSigned.sha256, value: encode("CertObservation", selfSigned) }]);
  await producer.send(topics.labels, [
    label("registered_domain", "exfil.example", "benign"),
    label("destination", "198.18.1.80", "malicious"),
    label("registered_domain", "missed.example", "malicious"),
  ].map((l) => ({ key: l.entity, value: encode("Label", l) })));
  await producer.close();

  const expected = new Map([
    [anomalyId("dns.tunnel", "registered_domain", "exfil.example", T1, 60_000), "dns.tunnel"],
    [anomalyId("flow.syn_flood", "destination", "198.18.1.80", T1, 10_000), "flow.syn_flood"],
    [anomalyId("cert.self_signed", "certificate", "ab".repeat(32), T1 - (T1 % DAY), DAY), "cert.self_signed"],
  ]);
  const detector = await startDetector(context(), { topics, groupId: `test.detector.${run}.c` });
  try {
    const got = await readUntil(topics.anomalies, (g) => [...expected.keys()].every((id) => g.some((r) => decodeAs<Anomaly>("Anomaly", r.value!).id === id)));
    const byId = new Map(got.map((r) => decodeAs<Anomaly>("Anomaly", r.value!)).map((a) => [a.id, a]));
    for (const [id, detectorName] of expected) assert.equal(byId.get(id)?.detector, detectorName, `${detectorName} arrived`);
    assert.equal(byId.get([...expected.keys()][1]!)?.evidence.find((e) => e.name === "sources")?.detail, "198.18.66.6=500", "fires at the 500th half-open attempt");
    // Labels and detections meet in any order; the rates settle at 1 FP, 1 TP, 1 FN.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && ((await gauge("stoq_false_positive_rate")) !== 0.5 || (await gauge("stoq_false_negative_rate")) !== 0.5)) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await gauge("stoq_false_positive_rate"), 0.5);
    assert.equal(await gauge("stoq_false_negative_rate"), 0.5);
    assert.deepEqual(await redis.hmget(REDIS_KEYS.quality, "tp", "fp", "fn"), ["1", "1", "1"]);
    assert.ok((await redis.zscore(REDIS_KEYS.threats, "destination:198.18.1.80")) !== null);
  } finally {
    await detector.close();
  }
});
