// Tests of lib/src/dead-letter.ts on the real broker: garbage among good records lands in the DLQ whole,
// is counted and logged once per kind, and the consumer handles every good record.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { pino } from "pino";
import { register } from "prom-client";
import { decodeAs, encode, type DlqEntry } from "../src/avro.js";
import { withDeadLetter, type Decoded } from "../src/dead-letter.js";
import { createAdmin, createConsumer, createProducer, type ConsumedRecord, type KafkaConnection } from "../src/kafka.js";
import { createLogger } from "../src/log.js";
import { stackEndpoints } from "../src/stack-endpoints.js";

const conn: KafkaConnection = { brokers: stackEndpoints().brokers, clientId: "stoq-test-dlq" };
const run = randomUUID().slice(0, 8);
const input = `test.dlq.${run}.input`;
const dlq = `test.dlq.${run}.dlq`;
const admin = createAdmin(conn);
const quiet = createLogger("dlq-test", "silent");

after(async () => {
  await admin.deleteTopics([input, dlq]);
  await admin.close();
});

// Good records are DlqEntry records themselves: a schema whose every field this test knows.
function goodEntry(i: number): DlqEntry {
  return {
    origin_topic: "somewhere",
    partition: i,
    offset: i * 10,
    record_timestamp_ms: null,
    key: null,
    value: Buffer.from(`payload-${i}`),
    error_code: "NONE",
    error_message: "",
    consumer_group: "g",
    service: "s",
    failed_at_ms: 1_700_000_000_000 + i,
  };
}

async function counted(topic: string): Promise<number> {
  const metric = await register.getSingleMetric("stoq_dlq_records_total")!.get();
  return metric.values.find((v) => v.labels["topic"] === topic)?.value ?? 0;
}

async function readAll(topic: string, n: number): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  let enough!: () => void;
  const done = new Promise<void>((r) => (enough = r));
  const consumer = createConsumer(conn, {
    groupId: `test.dlq.${run}.${randomUUID()}`,
    topics: [topic],
    logger: quiet,
    eachBatch: async (b) => {
      got.push(...b.records);
      if (got.length >= n) enough();
      return Promise.resolve();
    },
  });
  await consumer.start();
  const timer = setTimeout(enough, 15_000);
  await done;
  clearTimeout(timer);
  await consumer.close();
  return got;
}

test("a garbage record among good ones goes to the DLQ with its bytes; every good one is handled", async () => {
  await admin.createTopics([
    { name: input, partitions: 1 },
    { name: dlq, partitions: 1 },
  ]);
  const unknownSchema = Buffer.concat([Buffer.from([0xc3, 0x01]), randomBytes(8), Buffer.from("body")]);
  const truncated = encode("DlqEntry", goodEntry(99)).subarray(0, 14);
  const garbage = new Map<number, Buffer>([
    [2, Buffer.from("not avro at all")],
    [5, unknownSchema],
    [6, Buffer.from([0x00, 0x01, 0x02])],
    [9, truncated],
    [12, Buffer.alloc(0)],
  ]);
  const values: Buffer[] = [];
  let good = 0;
  for (let offset = 0; offset < 15; offset++) values.push(garbage.get(offset) ?? encode("DlqEntry", goodEntry(good++)));

  const producer = createProducer(conn, { logger: quiet });
  await producer.send(input, values.map((value, i) => ({ key: `k${i}`, value })));

  const logLines: string[] = [];
  const logger = pino({ level: "warn" }, new Writable({ write: (chunk: Buffer, _enc, cb) => (logLines.push(chunk.toString()), cb()) }));
  const handled: Decoded<DlqEntry>[] = [];
  let allGood!: () => void;
  const done = new Promise<void>((r) => (allGood = r));
  const before = await counted(input);
  const groupId = `test.dlq.${run}.svc`;
  const consumer = createConsumer(conn, {
    groupId,
    topics: [input],
    logger: quiet,
    eachBatch: withDeadLetter<DlqEntry>({
      decode: (buf) => decodeAs<DlqEntry>("DlqEntry", buf),
      handle: async (records) => {
        handled.push(...records);
        if (handled.length >= good) allGood();
        return Promise.resolve();
      },
      producer,
      service: "test-service",
      dlqTopic: dlq,
      logger,
    }),
  });
  await consumer.start();
  const timer = setTimeout(allGood, 20_000);
  await done;
  clearTimeout(timer);
  await consumer.close();

  assert.deepEqual(
    handled.map((d) => d.value.value.toString()),
    Array.from({ length: good }, (_, i) => `payload-${i}`),
    "every good record handled, in order",
  );
  assert.deepEqual(
    handled.map((d) => Number(d.record.offset)),
    [...values.keys()].filter((o) => !garbage.has(o)),
  );

  const dead = await readAll(dlq, garbage.size);
  await producer.close();
  assert.equal(dead.length, garbage.size);
  const entries = dead.map((r) => ({ key: r.key!.toString(), entry: decodeAs<DlqEntry>("DlqEntry", r.value!) }));
  for (const { key, entry } of entries) {
    assert.equal(key, input, "keyed by origin topic");
    assert.equal(entry.origin_topic, input);
    assert.equal(entry.partition, 0);
    assert.deepEqual(entry.value, garbage.get(entry.offset), `offset ${entry.offset}: the original bytes`);
    assert.deepEqual(entry.key, Buffer.from(`k${entry.offset}`));
    assert.equal(entry.consumer_group, groupId);
    assert.equal(entry.service, "test-service");
    assert.ok(entry.error_message.length > 0);
    assert.match(entry.error_code, /^[A-Z_]+$/);
    assert.ok(entry.record_timestamp_ms !== null && Math.abs(entry.record_timestamp_ms - Date.now()) < 120_000);
  }
  assert.deepEqual(entries.map((e) => e.entry.offset).sort((a, b) => a - b), [...garbage.keys()]);
  assert.equal((await counted(input)) - before, garbage.size, "stoq_dlq_records_total{topic} counts each");

  const kinds = new Set(entries.map((e) => e.entry.error_code));
  const warned = logLines.filter((l) => l.includes("does not decode"));
  assert.equal(warned.length, kinds.size, `one log line per error kind (${[...kinds].join(", ")}), not per record`);
  assert.ok(kinds.size < garbage.size, "some kinds repeat, so the once-per-kind rule is exercised");
});
