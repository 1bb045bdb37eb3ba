// The Redis projection against real Kafka and Redis: partials of two partitions merge into one total,
// a replayed or older revision changes nothing, series, top-k and TTLs are where readers look, and rows
// of the DNS and the flow stream for one key and window stay apart; window starts are indexed.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import avro from "avsc";
import { Redis } from "ioredis";
import { encode, type MeasureSummary, type WindowAggregate } from "../../../lib/src/avro.js";
import { fingerprintBytes } from "../../../lib/src/avro-fingerprint.js";
import { REPO_ROOT } from "../../../lib/src/stack-endpoints.js";
import { createAdmin, createProducer } from "../../../lib/src/kafka.js";
import { windowAggregate } from "../../../lib/test/window-aggregate.js";
import { createRedisSink, mergePartials, redisKeys } from "../src/redis-sink.js";

const kafka = { brokers: ["127.0.0.1:9092"], clientId: "redis-sink-test" };
const run = randomUUID().slice(0, 8);
const topic = `test.agg.${run}.redis`;
const streamsTopic = `test.agg.${run}.streams`;
const prefix = `test:${run}:`;
const redis = new Redis("redis://127.0.0.1:6379", { keyPrefix: prefix });
const admin = createAdmin(kafka);

after(async () => {
  // KEYS returns full names; a client without the prefix deletes them (and is closed, or the file never exits).
  const keys = await redis.keys(`${prefix}*`);
  const raw = new Redis("redis://127.0.0.1:6379");
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
  redis.disconnect();
  await admin.deleteTopics([topic, streamsTopic]).catch(() => undefined);
  await admin.close();
});

/** A registered-domain row with one response-time measure. */
function agg(o: Partial<WindowAggregate>): WindowAggregate {
  return windowAggregate({ measures: [{ name: "response_time_us", count: 4, mean: 100, variance: 25, min: 90, max: 110, p50: 100, p90: 108, p99: 110 }], ...o });
}

test("partials merge exactly: counts, rates, Chan-merged moments, top-k", () => {
  const a = agg({ count: 3, measures: [{ name: "x", count: 2, mean: 1, variance: 1, min: 0, max: 2, p50: 1, p90: 2, p99: 2 }], top_k: [{ key: "a", count: 2 }, { key: "b", count: 1 }] });
  const b = agg({ count: 5, measures: [{ name: "x", count: 2, mean: 5, variance: 1, min: 4, max: 6, p50: 5, p90: 6, p99: 6 }], top_k: [{ key: "b", count: 4 }], aggregator_instance: "stoq.dns.v1/1" });
  const m = mergePartials([a, b]);
  assert.equal(m.count, 8);
  // samples 0, 2, 4, 6: mean 3, population variance 5
  assert.deepEqual(m.measures[0], { name: "x", count: 4, mean: 3, variance: 5, min: 0, max: 6, p50: 1, p90: 2, p99: 2 });
  assert.deepEqual(m.top_k, [{ key: "b", count: 5 }, { key: "a", count: 2 }]);
});

test("the sink writes merged totals, series and top-k idempotently, with TTLs", { timeout: 60_000 }, async () => {
  await admin.createTopics([{ name: topic, partitions: 1 }]);
  const producer = createProducer(kafka);
  const rows = [
    agg({ count: 10 }),
    agg({ count: 7, aggregator_instance: "stoq.dns.v1/1" }),
    agg({ count: 12, revision: 1 }), // a revision of partition 0 replaces its partial
    agg({ count: 10, revision: 0 }), // an older revision arriving late changes nothing
    agg({ key: "other.org", count: 3 }),
    agg({ dimension: "global", key: "", count: 22 }),
  ];
  await producer.send(topic, rows.map((r) => ({ value: encode("WindowAggregate", r) })));
  const sink = createRedisSink({ kafka, redis, topic, groupId: `test.agg.${run}.sink`, ttlSeconds: () => 600 });
  await sink.start();
  const totalOf = async (): Promise<WindowAggregate | null> => {
    const t = await redis.hget(redisKeys.agg("dns", agg({})), "total");
    return t === null ? null : (JSON.parse(t) as WindowAggregate);
  };
  const deadline = Date.now() + 30_000;
  while ((await redis.zcard(redisKeys.series("dns", "1m", "global", ""))) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await totalOf())?.count, 19);
  assert.deepEqual(await redis.zrevrange(redisKeys.top("dns", "1m", "registered_domain", 60_000), 0, -1, "WITHSCORES"), ["example.com", "19", "other.org", "3"]);
  const series = await redis.zrangebyscore(redisKeys.series("dns", "1m", "registered_domain", "example.com"), 0, 200_000, "WITHSCORES");
  assert.equal(series.length, 2, "one point per window, replaced by revisions");
  assert.equal((JSON.parse(series[0] ?? "{}") as WindowAggregate).count, 19);
  const ttl = await redis.ttl(redisKeys.agg("dns", agg({})));
  assert.ok(ttl > 500 && ttl <= 600, `ttl ${ttl}`);
  // Replaying everything (a restarted sink) leaves the same values.
  await producer.send(topic, rows.map((r) => ({ value: encode("WindowAggregate", r) })));
  await producer.send(topic, [{ value: encode("WindowAggregate", agg({ dimension: "global", key: "", count: 22, window_start_ms: 120_000, window_end_ms: 180_000 })) }]);
  while ((await redis.zcard(redisKeys.series("dns", "1m", "global", ""))) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await totalOf())?.count, 19);
  await sink.close();
  await producer.close();
});

test("partials of different input streams do not merge", () => {
  assert.throws(() => mergePartials([agg({}), agg({ stream: "flow", aggregator_instance: "stoq.flows.v1/0" })]), /different input streams/);
});

test("a DNS row and a flow row of one dimension, key and window stay apart, each with its own totals", { timeout: 60_000 }, async () => {
  const indicator = (name: string, count: number): MeasureSummary => ({ name, count, mean: 0, variance: 0, min: 0, max: 0, p50: null, p90: null, p99: null });
  // A window of its own: the test above wrote global rows of the first.
  const source = { dimension: "source" as const, key: "198.18.0.7", window_start_ms: 600_000, window_end_ms: 660_000 };
  const dns = (o: Partial<WindowAggregate>): WindowAggregate => agg({ ...source, stream: "dns", measures: [indicator("nxdomain", o.count ?? 0)], ...o });
  const flow = (o: Partial<WindowAggregate>): WindowAggregate =>
    agg({ ...source, stream: "flow", measures: [indicator("rst", o.count ?? 0)], aggregator_instance: "stoq.flows.v1/0", ...o });
  // A flow partial written before WindowAggregate v2 (no stream) is told by its indicator, "rst".
  const v1 = JSON.parse(readFileSync(join(REPO_ROOT, "schemas/history/WindowAggregate/v1.avsc"), "utf8")) as avro.Schema;
  const { stream: _s, ...old } = flow({ count: 2, aggregator_instance: "stoq.flows.v1/1" });
  const oldFlow = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytes(v1), avro.Type.forSchema(v1).toBuffer(old)]);
  await admin.createTopics([{ name: streamsTopic, partitions: 1 }]);
  const producer = createProducer(kafka);
  await producer.send(streamsTopic, [
    ...[dns({ count: 10 }), dns({ count: 5, aggregator_instance: "stoq.dns.v1/1" }), flow({ count: 3 })].map((r) => ({ value: encode("WindowAggregate", r) })),
    { value: oldFlow },
    ...[dns({ dimension: "global", key: "", count: 40 }), flow({ dimension: "global", key: "", count: 9 })].map((r) => ({ value: encode("WindowAggregate", r) })),
  ]);
  await producer.close();
  const sink = createRedisSink({ kafka, redis, topic: streamsTopic, groupId: `test.agg.${run}.streams`, ttlSeconds: () => 600 });
  await sink.start();
  try {
    const deadline = Date.now() + 30_000;
    while ((await redis.zcard(redisKeys.series("flow", "1m", "global", ""))) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const total = async (stream: "dns" | "flow", dimension: WindowAggregate["dimension"], key: string): Promise<WindowAggregate> =>
      JSON.parse((await redis.hget(redisKeys.agg(stream, agg({ ...source, dimension, key })), "total")) ?? "null") as WindowAggregate;
    const d = await total("dns", "source", source.key);
    const f = await total("flow", "source", source.key);
    assert.equal(d.count, 15, "DNS: two partitions' partials, no flows");
    assert.equal(d.stream, "dns");
    assert.deepEqual(d.measures.map((m) => [m.name, m.count]), [["nxdomain", 15]]);
    assert.equal(d.aggregator_instance, "stoq.dns.v1/0,stoq.dns.v1/1");
    assert.equal(f.count, 5, "flows: a v2 and a v1 partial, no DNS events");
    assert.deepEqual(f.measures.map((m) => [m.name, m.count]), [["rst", 5]]);
    assert.equal(f.aggregator_instance, "stoq.flows.v1/0,stoq.flows.v1/1");
    assert.equal((await total("dns", "global", "")).count, 40);
    assert.equal((await total("flow", "global", "")).count, 9);
    assert.deepEqual(await redis.zrevrange(redisKeys.top("dns", "1m", "source", 600_000), 0, -1, "WITHSCORES"), [source.key, "15"]);
    assert.deepEqual(await redis.zrevrange(redisKeys.top("flow", "1m", "source", 600_000), 0, -1, "WITHSCORES"), [source.key, "5"]);
    const point = async (stream: "dns" | "flow"): Promise<number[]> =>
      (await redis.zrange(redisKeys.series(stream, "1m", "source", source.key), 0, -1)).map((m) => (JSON.parse(m) as WindowAggregate).count);
    assert.deepEqual(await point("dns"), [15]);
    assert.deepEqual(await point("flow"), [5]);
  } finally {
    await sink.close();
  }
});

test("window starts with top keys are indexed per stream and window, newest first, older than the TTL trimmed", { timeout: 60_000 }, async () => {
  const startsTopic = `test.agg.${run}.starts`;
  await admin.createTopics([{ name: startsTopic, partitions: 1 }]);
  // 10 s windows, which the other tests do not write.
  const at = (start: number, o: Partial<WindowAggregate> = {}): WindowAggregate => agg({ window_start_ms: start, window_end_ms: start + 10_000, size_ms: 10_000, hop_ms: 10_000, ...o });
  const rows = [
    at(60_000),
    at(400_000),
    at(400_000, { key: "other.org" }),
    at(460_000, { dimension: "global", key: "" }), // no top keys: not a start to pick
    at(520_000, { stream: "flow", dimension: "source", key: "198.18.0.9", aggregator_instance: "stoq.flows.v1/0" }),
    at(700_000), // 600 s TTL: the start 60_000 falls off
  ];
  const producer = createProducer(kafka);
  await producer.send(startsTopic, rows.map((r) => ({ value: encode("WindowAggregate", r) })));
  await producer.close();
  const sink = createRedisSink({ kafka, redis, topic: startsTopic, groupId: `test.agg.${run}.starts`, ttlSeconds: () => 600 });
  await sink.start();
  try {
    const deadline = Date.now() + 30_000;
    while ((await redis.zscore(redisKeys.starts("dns", "10s"), "700000")) === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await redis.zrevrange(redisKeys.starts("dns", "10s"), 0, -1), ["700000", "400000"]);
    assert.deepEqual(await redis.zrevrange(redisKeys.starts("flow", "10s"), 0, -1), ["520000"]);
    const ttl = await redis.ttl(redisKeys.starts("dns", "10s"));
    assert.ok(ttl > 500 && ttl <= 600, `ttl ${ttl}`);
  } finally {
    await sink.close();
    await admin.deleteTopics([startsTopic]).catch(() => undefined);
  }
});
