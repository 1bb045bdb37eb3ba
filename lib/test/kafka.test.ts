// Tests of lib/src/kafka.ts against real brokers: the shared stack's, and a private one this file starts
// and stops to make an outage.
import { test, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { register } from "prom-client";
import { MultipleErrors, NetworkError, ResponseError, UserError } from "@platformatic/kafka";
import {
  backoffDelayMs,
  createAdmin,
  createConsumer,
  createProducer,
  createTransactionalProducer,
  isGroupFencedError,
  isRetriable,
  readRecordSets,
  type ConsumedBatch,
  type ConsumedRecord,
  type KafkaConnection,
} from "../src/kafka.js";
import { StoqError } from "../src/errors.js";
import { createLogger } from "../src/log.js";
import { stackEndpoints, REPO_ROOT } from "../src/stack-endpoints.js";

const conn: KafkaConnection = { brokers: stackEndpoints().brokers, clientId: "stoq-test-kafka" };
const quiet = createLogger("kafka-test", "silent");
const run = randomUUID().slice(0, 8);
const topicsMade: string[] = [];
const admin = createAdmin(conn);

async function topic(name: string, partitions = 1): Promise<string> {
  const t = `test.kafka.${run}.${name}`;
  await admin.createTopics([{ name: t, partitions }]);
  topicsMade.push(t);
  return t;
}

after(async () => {
  await admin.deleteTopics(topicsMade);
  await admin.close();
});

/** Reads `topic` with a fresh group until `n` records came or `ms` passed; returns the batches. */
async function readBatches(t: string, n: number, opts: { readCommitted?: boolean; ms?: number } = {}): Promise<ConsumedBatch[]> {
  const got: ConsumedBatch[] = [];
  let count = 0;
  let enough!: () => void;
  const done = new Promise<void>((r) => (enough = r));
  const consumer = createConsumer(conn, {
    groupId: `test.${run}.${randomUUID()}`,
    topics: [t],
    readCommitted: opts.readCommitted ?? true,
    maxBatchRecords: 500,
    logger: quiet,
    eachBatch: (batch) => {
      got.push(batch);
      count += batch.values.length;
      if (count >= n) enough();
      return Promise.resolve();
    },
  });
  await consumer.start();
  const timer = setTimeout(enough, opts.ms ?? 20_000);
  await done;
  clearTimeout(timer);
  await consumer.close();
  return got;
}

/** Reads `topic` with a fresh group until `n` records came or `ms` passed; returns what came. */
async function readAll(t: string, n: number, opts: { readCommitted?: boolean; ms?: number; groupId?: string } = {}): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  let enough!: () => void;
  const done = new Promise<void>((r) => (enough = r));
  const consumer = createConsumer(conn, {
    groupId: opts.groupId ?? `test.${run}.${randomUUID()}`,
    topics: [t],
    readCommitted: opts.readCommitted ?? true,
    logger: quiet,
    eachBatch: async (batch) => {
      got.push(...batch.records);
      if (got.length >= n) enough();
      return Promise.resolve();
    },
  });
  await consumer.start();
  const timer = setTimeout(enough, opts.ms ?? 20_000);
  await done;
  clearTimeout(timer);
  await consumer.close();
  return got;
}

describe("pure parts", () => {
  test("backoff: full jitter under a doubling ceiling capped at maxMs", () => {
    assert.equal(backoffDelayMs(0, { initialMs: 100, maxMs: 1000 }, () => 1), 100);
    assert.equal(backoffDelayMs(3, { initialMs: 100, maxMs: 1000 }, () => 1), 800);
    assert.equal(backoffDelayMs(4, { initialMs: 100, maxMs: 1000 }, () => 1), 1000);
    assert.equal(backoffDelayMs(60, { initialMs: 100, maxMs: 1000 }, () => 1), 1000);
    assert.equal(backoffDelayMs(5, { initialMs: 100, maxMs: 1000 }, () => 0), 0);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelayMs(5)));
    assert.ok(spread.size > 10, "delays are jittered");
  });

  test("retriable: broker and network trouble yes, programmer errors never", () => {
    assert.equal(isRetriable(new NetworkError("connection refused")), true);
    assert.equal(isRetriable(new StoqError("KAFKA_UNAVAILABLE", "away")), true);
    assert.equal(isRetriable(new UserError("bad option")), false);
    assert.equal(isRetriable(new StoqError("RECORD_INVALID", "bad")), false);
    assert.equal(isRetriable(new TypeError("x is undefined")), false);
  });

  test("group fencing: a rebalanced or expired member yes, a fenced producer no", () => {
    // As the client reports them: a response error per failed request, several after its retries, and
    // the transaction wrapper of this module around them. Error codes are the protocol's.
    const response = (code: number): ResponseError => new ResponseError(28, 4, { "/topics/0/partitions/0": [code, null] }, {});
    const wrapped = (code: number): StoqError => new StoqError("KAFKA_TRANSACTION_FATAL", "sendOffsets", { cause: new MultipleErrors("retries", [response(code)]) });
    for (const [code, id] of [[22, "ILLEGAL_GENERATION"], [25, "UNKNOWN_MEMBER_ID"], [27, "REBALANCE_IN_PROGRESS"], [82, "FENCED_INSTANCE_ID"]] as const) {
      assert.equal(isGroupFencedError(response(code)), true, id);
      assert.equal(isGroupFencedError(wrapped(code)), true, `${id} wrapped`);
    }
    for (const [code, id] of [[90, "PRODUCER_FENCED"], [47, "INVALID_PRODUCER_EPOCH"], [51, "CONCURRENT_TRANSACTIONS"]] as const) {
      assert.equal(isGroupFencedError(wrapped(code)), false, id);
    }
    assert.equal(isGroupFencedError(new NetworkError("connection refused")), false);
  });

  test("bad connection config names the key and what is allowed", () => {
    assert.throws(() => createProducer({ brokers: ["localhost"], clientId: "x" }), (e: unknown) => e instanceof StoqError && e.code === "CONFIG_INVALID" && /kafka\.brokers.*host:port/.test(e.message));
    assert.throws(() => createAdmin({ brokers: [], clientId: "x" }), /kafka\.brokers: empty/);
  });
});

// A RecordBatch v2 as a broker returns it (CRC left zero: the reader does not check it).
function recordBatch(base: number, producerId: bigint, values: readonly string[], kind: "plain" | "tx" | "commit" | "abort"): Buffer {
  const varint = (n: number): number[] => {
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    const out: number[] = [];
    while (z >= 0x80) {
      out.push((z & 0x7f) | 0x80);
      z = Math.floor(z / 128);
    }
    out.push(z);
    return out;
  };
  const control = kind === "commit" || kind === "abort";
  const records = (control ? [null] : values).map((v, i) => {
    const key = control ? [0, 0, 0, kind === "abort" ? 0 : 1] : null;
    const value = control ? [0, 0, 0, 0, 0, 0] : [...Buffer.from(v!)];
    const body = [0, ...varint(0), ...varint(i), ...(key ? [...varint(key.length), ...key] : varint(-1)), ...varint(value.length), ...value, ...varint(0)];
    return Buffer.from([...varint(body.length), ...body]);
  });
  const head = Buffer.alloc(61);
  head.writeBigInt64BE(BigInt(base), 0);
  head.writeInt32BE(49 + records.reduce((n, r) => n + r.length, 0), 8);
  head.writeInt8(2, 16);
  head.writeInt16BE((kind === "plain" ? 0 : 0x10) | (control ? 0x20 : 0), 21);
  head.writeInt32BE(records.length - 1, 23);
  head.writeBigInt64BE(BigInt(1_750_000_000_000), 27);
  head.writeBigInt64BE(BigInt(1_750_000_000_000), 35);
  head.writeBigInt64BE(kind === "plain" ? -1n : producerId, 43);
  head.writeInt32BE(records.length, 57);
  return Buffer.concat([head, ...records]);
}

describe("record sets read by the module", () => {
  const values = (buf: Buffer, from: number, aborted: { producerId: bigint; firstOffset: bigint }[], readCommitted = true): (string | null)[] =>
  {
    const c = readRecordSets(buf, "t", 0, from, aborted, readCommitted);
    return c.offsets.map((_, i) => (c.valueLength[i]! < 0 ? null : c.sources[i]!.toString("utf8", c.valueAt[i], c.valueAt[i]! + c.valueLength[i]!)));
  };

  test("an aborted transaction is skipped from its first offset, with or without its marker in the same fetch", () => {
    const p = 7n;
    const q = 9n;
    const log = [
      recordBatch(0, p, ["p1", "p2"], "tx"),
      recordBatch(2, q, ["q1"], "tx"),
      recordBatch(3, -1n, ["n1"], "plain"),
      recordBatch(4, p, [], "abort"),
      recordBatch(5, q, [], "commit"),
      recordBatch(6, p, ["p3"], "tx"),
      recordBatch(7, p, [], "commit"),
      recordBatch(8, p, ["p4"], "tx"),
    ];
    const all = Buffer.concat(log);
    const aborted = [{ producerId: p, firstOffset: 0n }];
    assert.deepEqual(values(all, 0, aborted), ["q1", "n1", "p3", "p4"], "p's first transaction aborted, its later ones kept");
    // The fetch ends before p's abort marker: the broker's list alone says p1, p2 are aborted.
    assert.deepEqual(values(Buffer.concat(log.slice(0, 3)), 0, aborted), ["q1", "n1"]);
    // Two aborted transactions of one producer in one fetch.
    const twice = Buffer.concat([recordBatch(0, p, ["a"], "tx"), recordBatch(1, p, [], "abort"), recordBatch(2, p, ["b"], "tx"), recordBatch(3, p, [], "abort"), recordBatch(4, p, ["c"], "tx")]);
    assert.deepEqual(values(twice, 0, [{ producerId: p, firstOffset: 0n }, { producerId: p, firstOffset: 2n }]), ["c"]);
    assert.deepEqual(values(all, 0, aborted, false), ["p1", "p2", "q1", "n1", "p3", "p4"], "read_uncommitted keeps them");
    assert.deepEqual(values(all, 1, aborted, false), ["p2", "q1", "n1", "p3", "p4"], "records before the fetch offset are dropped");
    // A batch cut by the response's size limit is left for the next fetch.
    const cut = readRecordSets(all.subarray(0, all.length - 3), "t", 0, 0, aborted, true);
    assert.deepEqual([cut.offsets.length, cut.nextOffset], [3, 8]);
  });
});

describe("producer and consumer group on the shared broker", () => {
  test("invalid records are refused at once and the producer keeps working", async () => {
    const t = await topic("invalid");
    const producer = createProducer(conn, { logger: quiet });
    await assert.rejects(producer.send(t, [{ value: "not a buffer" as unknown as Buffer }]), (e: unknown) => e instanceof StoqError && e.code === "RECORD_INVALID");
    await assert.rejects(producer.send("", [{ value: Buffer.from("x") }]), /topic must be a non-empty string/);
    assert.deepEqual(await producer.send(t, [{ value: Buffer.from("ok") }]), { delivered: 1, shed: 0 });
    await producer.close();
  });

  test("close() with no broker reachable sheds what is queued and resolves; send never rejects for it", async () => {
    const producer = createProducer({ brokers: [`127.0.0.1:${await freePort()}`], clientId: "nobody-home", connectTimeoutMs: 200 }, { logger: quiet, retry: { initialMs: 20, maxMs: 100 } });
    const pending = producer.send("test.nowhere", Array.from({ length: 10 }, (_, i) => ({ value: Buffer.from(String(i)) })));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(producer.stats().backlogRecords, 10);
    await producer.close(300);
    assert.deepEqual(await pending, { delivered: 0, shed: 10 });
    assert.equal(producer.stats().shed, 10);
  });

  test("keyed records keep their partition, key, headers and order; a record too large is refused for good", async () => {
    const t = await topic("roundtrip", 3);
    const producer = createProducer(conn, { logger: quiet });
    const records = Array.from({ length: 300 }, (_, i) => ({
      key: `k${i % 7}`,
      value: Buffer.from(`v${i}`),
      headers: { seq: String(i) },
    }));
    assert.deepEqual(await producer.send(t, records), { delivered: 300, shed: 0 });
    await assert.rejects(producer.send(t, [{ value: Buffer.alloc(2 << 20) }]), (e: unknown) => e instanceof StoqError && e.code === "KAFKA_RECORD_REJECTED");
    await producer.close();

    const got = await readAll(t, 300);
    assert.equal(got.length, 300);
    const partitionOfKey = new Map<string, number>();
    const lastSeqOfKey = new Map<string, number>();
    for (const r of got) {
      const key = r.key!.toString();
      const seq = Number(r.headers.get("seq")!.toString());
      assert.equal(r.value!.toString(), `v${seq}`);
      assert.equal(partitionOfKey.get(key) ?? r.partition, r.partition, `key ${key} stays on one partition`);
      partitionOfKey.set(key, r.partition);
      assert.ok(seq > (lastSeqOfKey.get(key) ?? -1), "per-key order kept");
      lastSeqOfKey.set(key, seq);
    }
    assert.ok(new Set(partitionOfKey.values()).size > 1, "7 keys spread over more than one of 3 partitions");
  });

  test("a partition holding more than one fetch (50 000 records, ~11 MiB) is consumed whole", async () => {
    const t = await topic("many");
    const producer = createProducer(conn, { logger: quiet });
    for (let i = 0; i < 50_000; i += 10_000) {
      assert.deepEqual(await producer.send(t, Array.from({ length: 10_000 }, (_, j) => ({ value: Buffer.alloc(200, (i + j) % 251) }))), { delivered: 10_000, shed: 0 });
    }
    await producer.close();
    const got = await readAll(t, 50_000, { ms: 60_000 });
    assert.equal(got.length, 50_000);
    assert.deepEqual(got.map((r) => Number(r.offset)), Array.from({ length: 50_000 }, (_, i) => i));
  });

  test("compressed batches (gzip, snappy, lz4) read back whole: keys, headers, timestamps, values", async () => {
    for (const compression of ["gzip", "snappy", "lz4"] as const) {
      const t = await topic(`compressed-${compression}`);
      const producer = createProducer(conn, { logger: quiet, compression });
      const records = Array.from({ length: 2000 }, (_, i) => ({
        key: i % 3 === 0 ? null : `k${i}`,
        value: Buffer.from(`${compression}-${i}-${"x".repeat(i % 50)}`),
        headers: i % 2 === 0 ? { seq: String(i), h: "v" } : undefined,
        timestampMs: 1_750_000_000_000 + i,
      }));
      assert.deepEqual(await producer.send(t, records), { delivered: 2000, shed: 0 });
      await producer.close();
      const batches = await readBatches(t, 2000);
      const got = batches.flatMap((b) => b.records);
      assert.deepEqual(batches.flatMap((b) => b.values.map((v) => v!.toString())), records.map((r) => r.value.toString()), `${compression}: values`);
      assert.deepEqual(got.map((r) => Number(r.offset)), records.map((_, i) => i), `${compression}: offsets`);
      for (const [i, r] of got.entries()) {
        const sent = records[i]!;
        assert.equal(r.key?.toString() ?? null, sent.key, `${compression}: key ${i}`);
        assert.equal(r.timestampMs, sent.timestampMs, `${compression}: timestamp ${i}`);
        assert.deepEqual(Object.fromEntries([...r.headers].map(([k, v]) => [k, v.toString()])), sent.headers ?? {}, `${compression}: headers ${i}`);
      }
    }
  });

  test("unkeyed records spread over the partitions rather than all landing on partition 0", async () => {
    const t = await topic("unkeyed", 3);
    const producer = createProducer(conn, { logger: quiet });
    for (let i = 0; i < 6; i++) await producer.send(t, [{ value: Buffer.from(String(i)) }]);
    await producer.close();
    const got = await readAll(t, 6);
    assert.deepEqual(new Set(got.map((r) => r.partition)), new Set([0, 1, 2]));
  });

  test("commit after the batch: a group restarted after close() reads only what is new", async () => {
    const t = await topic("commit", 2);
    const groupId = `test.${run}.commit`;
    const producer = createProducer(conn, { logger: quiet });
    await producer.send(t, Array.from({ length: 50 }, (_, i) => ({ key: String(i), value: Buffer.from(`a${i}`) })));
    const first = await readAll(t, 50, { groupId });
    assert.equal(first.length, 50);
    await producer.send(t, [{ key: "new", value: Buffer.from("b") }]);
    const second = await readAll(t, 1, { groupId, ms: 5000 });
    await producer.close();
    assert.deepEqual(second.map((r) => r.value!.toString()), ["b"]);
  });

  test("consumer lag: partition end minus the position after the last handled batch, per topic and partition; gone after close", async () => {
    const t = await topic("lag", 2);
    const producer = createProducer(conn, { logger: quiet });
    await producer.send(t, Array.from({ length: 300 }, (_, i) => ({ value: Buffer.from(`v${i}`), partition: 0 })));
    await producer.close();
    const lagOf = async (): Promise<Map<string, number>> => {
      const metric = (await register.getSingleMetric("stoq_consumer_lag_records")!.get()).values.filter((v) => v.labels["topic"] === t);
      return new Map(metric.map((v) => [String(v.labels["partition"]), v.value]));
    };
    let handled = 0;
    let reached!: () => void;
    const atHundred = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let allDone!: () => void;
    const all = new Promise<void>((r) => (allDone = r));
    const consumer = createConsumer(conn, {
      groupId: `test.${run}.lag`,
      topics: [t],
      maxBatchRecords: 50,
      logger: quiet,
      eachBatch: async (batch) => {
        if (handled === 100) {
          reached();
          await gate;
        }
        handled += batch.count;
        if (handled === 300) allDone();
      },
    });
    await consumer.start();
    await atHundred;
    // Two batches of 50 handled, the third held in its handler: 200 to go on partition 0, none on 1.
    assert.deepEqual(Object.fromEntries(await lagOf()), { "0": 200, "1": 0 });
    release();
    await all;
    const deadline = Date.now() + 10_000;
    while ((await lagOf()).get("0") !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(Object.fromEntries(await lagOf()), { "0": 0, "1": 0 });
    await consumer.close();
    assert.equal((await lagOf()).size, 0, "a closed consumer's partitions are not reported");
  });

  test("a retriable handler error retries the batch; any other error stops the consumer", async () => {
    const t = await topic("handler-errors");
    const producer = createProducer(conn, { logger: quiet });
    await producer.send(t, Array.from({ length: 10 }, (_, i) => ({ value: Buffer.from(String(i)) })));
    await producer.close();

    const seen: string[] = [];
    let failures = 0;
    let allSeen!: () => void;
    const done = new Promise<void>((r) => (allSeen = r));
    const retrying = createConsumer(conn, {
      groupId: `test.${run}.retry`,
      topics: [t],
      logger: quiet,
      retry: { initialMs: 10, maxMs: 50 },
      eachBatch: async (batch) => {
        if (failures < 2) {
          failures++;
          throw new StoqError("KAFKA_UNAVAILABLE", "redis away, say");
        }
        seen.push(...batch.records.map((r) => r.value!.toString()));
        if (seen.length >= 10) allSeen();
        return Promise.resolve();
      },
    });
    await retrying.start();
    await done;
    await retrying.close();
    assert.equal(failures, 2);
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => String(i)));

    let calls = 0;
    const fatal = createConsumer(conn, {
      groupId: `test.${run}.fatal`,
      topics: [t],
      logger: quiet,
      eachBatch: () => {
        calls++;
        return Promise.reject(new TypeError("a bug"));
      },
    });
    await fatal.start();
    await assert.rejects(fatal.stopped, /a bug/);
    assert.equal(calls, 1, "a programmer error is not retried");
  });
});

describe("transactions on the shared broker", () => {
  test("aborted transactions are invisible to read_committed, committed ones visible", async () => {
    const t = await topic("tx");
    const producer = createTransactionalProducer(conn, `test.${run}.tx`);
    const committed = await producer.begin();
    await committed.send(t, [{ value: Buffer.from("c1") }, { value: Buffer.from("c2") }]);
    await committed.commit();
    const aborted = await producer.begin();
    await aborted.send(t, [{ value: Buffer.from("a1") }]);
    await aborted.abort();
    const last = await producer.begin();
    await last.send(t, [{ value: Buffer.from("c3") }]);
    await last.commit();
    await producer.close();

    const readCommitted = await readAll(t, 3, { ms: 5000 });
    assert.deepEqual(readCommitted.map((r) => r.value!.toString()), ["c1", "c2", "c3"]);
    // The same log read uncommitted does show the aborted record: the filter above is the isolation level.
    const readUncommitted = await readAll(t, 4, { readCommitted: false, ms: 5000 });
    assert.deepEqual(readUncommitted.map((r) => r.value!.toString()), ["c1", "c2", "a1", "c3"]);
  });

  test("read-process-write: output and input offsets commit together, or neither does", async () => {
    const input = await topic("eos-in");
    const output = await topic("eos-out");
    const groupId = `test.${run}.eos`;
    const producer = createProducer(conn, { logger: quiet });
    await producer.send(input, Array.from({ length: 20 }, (_, i) => ({ value: Buffer.from(String(i)) })));
    await producer.close();

    // First pass: process everything but abort, as if the process died before committing.
    const tx = createTransactionalProducer(conn, `test.${run}.eos`);
    const pass = async (commit: boolean): Promise<number> => {
      let processed = 0;
      let finished!: () => void;
      const done = new Promise<void>((r) => (finished = r));
      const consumer = createConsumer(conn, {
        groupId,
        topics: [input],
        commit: "by-transaction",
        logger: quiet,
        eachBatch: async (batch: ConsumedBatch) => {
          const t = await tx.begin();
          await t.send(output, batch.records.map((r) => ({ value: Buffer.from(`out-${r.value!.toString()}`) })));
          await t.sendOffsets(batch);
          if (commit) await t.commit();
          else await t.abort();
          processed += batch.records.length;
          if (processed >= 20) finished();
        },
      });
      await consumer.start();
      const timer = setTimeout(finished, 8000);
      await done;
      clearTimeout(timer);
      await consumer.close();
      return processed;
    };
    assert.equal(await pass(false), 20);
    assert.equal((await readAll(output, 1, { ms: 3000 })).length, 0, "aborted output is invisible");
    assert.equal(await pass(true), 20, "aborted offsets were not committed: the input is read again");
    await tx.close();
    const out = await readAll(output, 20);
    assert.deepEqual(out.map((r) => r.value!.toString()), Array.from({ length: 20 }, (_, i) => `out-${i}`));
    assert.equal((await readAll(input, 1, { groupId, ms: 3000 })).length, 0, "input offsets committed with the output");
  });

  test("read_committed skips every aborted transaction, several of one producer among plain records; batches chain", async () => {
    const t = await topic("tx-mixed");
    const tx = createTransactionalProducer(conn, `test.${run}.tx-mixed`);
    const plain = createProducer(conn, { logger: quiet });
    const expected: string[] = [];
    const all: string[] = [];
    const txn = async (name: string, n: number, commit: boolean): Promise<void> => {
      const open = await tx.begin();
      const values = Array.from({ length: n }, (_, i) => `${name}-${i}`);
      await open.send(t, values.map((v) => ({ value: Buffer.from(v) })));
      if (commit) await open.commit();
      else await open.abort();
      all.push(...values);
      if (commit) expected.push(...values);
    };
    const loose = async (name: string): Promise<void> => {
      await plain.send(t, [{ value: Buffer.from(name) }]);
      all.push(name);
      expected.push(name);
    };
    await txn("c1", 30, true);
    await txn("a1", 20, false);
    await txn("a2", 25, false);
    await loose("n1");
    await txn("c2", 10, true);
    await txn("a3", 40, false);
    await loose("n2");
    await txn("c3", 5, true);
    await tx.close();
    await plain.close();

    const batches = await readBatches(t, expected.length);
    assert.deepEqual(batches.flatMap((b) => b.values.map((v) => v!.toString())), expected);
    assert.deepEqual(batches.flatMap((b) => b.records.map((r) => r.value!.toString())), expected);
    assert.equal(batches[0]!.startOffset, 0);
    for (let i = 1; i < batches.length; i++) assert.equal(batches[i]!.startOffset, batches[i - 1]!.nextOffset, "each batch starts where the previous ended");
    // The last commit marker is the last record of the log: the position ends after it.
    assert.equal(batches.at(-1)!.nextOffset, Number((await admin.endOffsets(t))[0]));
    const uncommitted = await readBatches(t, all.length, { readCommitted: false });
    assert.deepEqual(uncommitted.flatMap((b) => b.values.map((v) => v!.toString())), all);
  });

  test("a transactional id restarted after kill -9 fences its zombie; the killed transaction never shows", { timeout: 60_000 }, async () => {
    const t = await topic("tx-restart");
    const id = `test.${run}.tx-restart`;
    const script = join(tmpdir(), `stoq-tx-restart-${run}.mts`);
    writeFileSync(
      script,
      `import { createTransactionalProducer } from ${JSON.stringify(join(REPO_ROOT, "lib/src/kafka.ts"))};
       const producer = createTransactionalProducer(${JSON.stringify(conn)}, ${JSON.stringify(id)});
       const first = await producer.begin();
       await first.send(${JSON.stringify(t)}, [{ value: Buffer.from("committed-before") }]);
       await first.commit();
       const open = await producer.begin();
       await open.send(${JSON.stringify(t)}, Array.from({ length: 50 }, (_, i) => ({ value: Buffer.from("killed-" + i) })));
       console.log("open");
       setInterval(() => undefined, 1000);`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = once(child, "exit");
    while (!out.includes("open")) {
      const early = await Promise.race([once(child.stdout, "data").then(() => null), exited]);
      assert.equal(early, null, "the child died before its transaction was open");
    }
    child.kill("SIGKILL");
    await exited;
    rmSync(script, { force: true });

    // The same id again: InitProducerId bumps the epoch and the broker aborts the killed transaction at
    // once; with a stale producer epoch it would answer PRODUCER_FENCED and this begin() would fail.
    const restarted = createTransactionalProducer(conn, id);
    const started = Date.now();
    const tx = await restarted.begin();
    await tx.send(t, [{ value: Buffer.from("after-restart") }]);
    await tx.commit();
    const visibleAfterMs = Date.now() - started;

    // A zombie (still running, same id, older epoch) is fenced by the newer incarnation.
    const zombieTx = await restarted.begin();
    await zombieTx.send(t, [{ value: Buffer.from("zombie") }]);
    const newer = createTransactionalProducer(conn, id);
    const newerTx = await newer.begin();
    await newerTx.send(t, [{ value: Buffer.from("newer") }]);
    await newerTx.commit();
    await assert.rejects(zombieTx.commit(), (e: unknown) => e instanceof StoqError && e.code === "KAFKA_TRANSACTION_FATAL");
    await restarted.close();
    await newer.close();

    const got = await readAll(t, 3, { ms: 5000 });
    assert.deepEqual(got.map((r) => r.value!.toString()), ["committed-before", "after-restart", "newer"]);
    assert.ok(visibleAfterMs < 4000, `the restarted id committed in ${visibleAfterMs} ms, without waiting out the transaction timeout`);
    const raw = await readAll(t, 54, { readCommitted: false, ms: 5000 });
    assert.equal(raw.filter((r) => r.value!.toString().startsWith("killed-")).length, 50, "the killed records are in the log, aborted");
  });
});

describe("admin", () => {
  test("creates topics from specs once, describes, lists and deletes them", async () => {
    const name = `test.kafka.${run}.admin`;
    const specs = [{ name, partitions: 4, config: { "cleanup.policy": "compact", "min.compaction.lag.ms": "0" } }];
    assert.deepEqual(await admin.createTopics(specs), [name]);
    assert.deepEqual(await admin.createTopics(specs), [], "second call creates nothing");
    assert.ok((await admin.listTopics()).includes(name));
    assert.deepEqual(await admin.describeTopics([name]), [{ name, partitions: 4, replicationFactor: 1 }]);
    await admin.deleteTopics([name]);
    for (let i = 0; i < 50 && (await admin.listTopics()).includes(name); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!(await admin.listTopics()).includes(name));
  });
});

describe("graceful shutdown", () => {
  test("SIGTERM flushes the backlog, leaves the group and exits 0", async () => {
    const t = await topic("sigterm");
    const script = join(tmpdir(), `stoq-sigterm-${run}.mts`);
    writeFileSync(
      script,
      `import { createProducer, createConsumer, closeOnSignals } from ${JSON.stringify(join(REPO_ROOT, "lib/src/kafka.ts"))};
       import { createLogger } from ${JSON.stringify(join(REPO_ROOT, "lib/src/log.ts"))};
       const conn = ${JSON.stringify(conn)};
       const logger = createLogger("child", "silent");
       const producer = createProducer(conn, { logger });
       const consumer = createConsumer(conn, { groupId: "test.${run}.sigterm", topics: [${JSON.stringify(t)}], logger, eachBatch: async () => {} });
       await consumer.start();
       closeOnSignals([producer, consumer], { logger, exit: (code) => { console.log("exit " + code); process.exit(code); } });
       void producer.send(${JSON.stringify(t)}, Array.from({ length: 5000 }, (_, i) => ({ value: Buffer.from(String(i)) })));
       console.log("ready");`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = once(child, "exit");
    while (!out.includes("ready")) {
      const early = await Promise.race([once(child.stdout, "data").then(() => null), exited]);
      assert.equal(early, null, "the child died before it was ready");
    }
    child.kill("SIGTERM");
    const [code] = (await exited) as [number];
    rmSync(script, { force: true });
    assert.equal(code, 0);
    assert.match(out, /exit 0/);
    const got = await readAll(t, 5000);
    assert.equal(got.length, 5000, "every record queued before SIGTERM reached the broker");
    // A member that exited without leaving would stay listed until its 30 s session timeout.
    assert.deepEqual(await admin.describeGroup(`test.${run}.sigterm`), { groupId: `test.${run}.sigterm`, state: "EMPTY", members: 0 });
  });
});

// ---------------------------------------------------------------------------------------------------
// A private single-node KRaft broker on free ports, stopped and started to make a real outage.

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  srv.close();
  return port;
}

class PrivateBroker {
  readonly dir = mkdtempSync(join(tmpdir(), "stoq-kafka-test-"));
  readonly libs = join(REPO_ROOT, ".stoq", "kafka", "libs");
  proc: ChildProcess | null = null;
  port = 0;

  async init(): Promise<void> {
    if (!existsSync(this.libs)) throw new Error(`Kafka jars missing in ${this.libs}: run scripts/setup.sh`);
    this.port = await freePort();
    const controller = await freePort();
    writeFileSync(
      join(this.dir, "server.properties"),
      [
        "process.roles=broker,controller",
        "node.id=1",
        `controller.quorum.voters=1@127.0.0.1:${controller}`,
        `listeners=PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${controller}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${this.port}`,
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        `log.dirs=${join(this.dir, "data")}`,
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
      ].join("\n"),
    );
    await this.java("kafka.tools.StorageTool", ["format", "-t", randomUUID().replace(/-/g, "").slice(0, 22), "-c", join(this.dir, "server.properties")]);
  }

  async java(main: string, args: string[]): Promise<void> {
    const p = spawn("java", ["-Xmx256m", "-cp", `${this.libs}/*`, main, ...args], { stdio: "ignore" });
    const [code] = (await once(p, "exit")) as [number];
    if (code !== 0) throw new Error(`${main} exited ${code}`);
  }

  async start(): Promise<void> {
    this.proc = spawn("java", ["-Xmx384m", "-Xms128m", "-cp", `${this.libs}/*`, "kafka.Kafka", join(this.dir, "server.properties")], { stdio: "ignore" });
    const probe = createAdmin({ brokers: this.brokers, clientId: "probe", connectTimeoutMs: 500 });
    try {
      for (let i = 0; ; i++) {
        try {
          await probe.listTopics();
          return;
        } catch (e) {
          if (i > 120) throw e;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } finally {
      await probe.close();
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    await once(p, "exit");
    clearTimeout(timer);
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("broker outage (private broker)", () => {
  const broker = new PrivateBroker();
  after(() => broker.destroy());

  test("records sent while the broker is down are buffered, bounded, counted, then delivered once", async () => {
    await broker.init();
    await broker.start();
    const c: KafkaConnection = { brokers: broker.brokers, clientId: "stoq-test-outage", connectTimeoutMs: 500, requestTimeoutMs: 3000 };
    const t = "test.outage";
    const outageAdmin = createAdmin(c);
    await outageAdmin.createTopics([{ name: t, partitions: 2 }]);
    await outageAdmin.close();

    const producer = createProducer(c, { logger: quiet, retry: { initialMs: 50, maxMs: 500 } });
    const small = createProducer(c, { logger: quiet, maxBacklogRecords: 50, retry: { initialMs: 50, maxMs: 500 } });
    assert.deepEqual(await producer.send(t, [{ value: Buffer.from("before") }]), { delivered: 1, shed: 0 });
    assert.deepEqual(await small.send(t, [{ value: Buffer.from("before-small") }]), { delivered: 1, shed: 0 });

    await broker.stop();
    const shedBefore = (await register.getSingleMetric("stoq_kafka_shed_records_total")!.get()).values.find((v) => v.labels["topic"] === t)?.value ?? 0;
    const during = Array.from({ length: 200 }, (_, i) => ({ key: String(i), value: Buffer.concat([Buffer.from(`during-${i}-`), randomBytes(8)]) }));
    const pending = producer.send(t, during);
    const pendingSmall = small.send(t, Array.from({ length: 120 }, (_, i) => ({ value: Buffer.from(`small-${i}`) })));
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(producer.stats().backlogRecords, 200, "all 200 wait in the backlog");
    assert.ok(producer.stats().retries > 0, "sends were tried and failed while the broker was down");
    assert.equal(producer.stats().delivered, 1);
    assert.equal(small.stats().shed, 70, "a backlog bounded at 50 sheds the 70 oldest of 120");

    await broker.start();
    assert.deepEqual(await pending, { delivered: 200, shed: 0 });
    assert.deepEqual(await pendingSmall, { delivered: 50, shed: 70 });
    const shedAfter = (await register.getSingleMetric("stoq_kafka_shed_records_total")!.get()).values.find((v) => v.labels["topic"] === t)?.value ?? 0;
    assert.equal(shedAfter - shedBefore, 70, "shed records are counted in the metric");
    await producer.close();
    await small.close();

    const got: string[] = [];
    let enough!: () => void;
    const done = new Promise<void>((r) => (enough = r));
    const consumer = createConsumer(c, {
      groupId: "outage-check",
      topics: [t],
      logger: quiet,
      eachBatch: async (b) => {
        got.push(...b.records.map((r) => r.value!.toString()));
        if (got.length >= 252) enough();
        return Promise.resolve();
      },
    });
    await consumer.start();
    const timer = setTimeout(enough, 20_000);
    await done;
    clearTimeout(timer);
    await consumer.close();
    const expected = ["before", "before-small", ...during.map((d) => d.value.toString()), ...Array.from({ length: 50 }, (_, i) => `small-${70 + i}`)];
    assert.deepEqual(got.sort(), expected.sort(), "each record exactly once: nothing lost, nothing duplicated by the retries");
  });
});
