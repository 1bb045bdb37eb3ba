// Kafka client benchmark: kafkajs, @platformatic/kafka and @confluentinc/kafka-javascript on the real
// broker, one core each, against the broker's own ProducerPerformance/ConsumerPerformance in the same run.
//
//   npm run bench:kafka -- [--json] [--records N] [--brokers host:port] [--cpu 0] [--clients a,b]
//                          [--confluent-dir DIR]   (or STOQ_CKJS_DIR; default .stoq/ckjs when present)
//
// Every client runs in its own Node process pinned with `taskset -c <cpu>`, and so does every Java tool,
// so "records/s" means records/s on one core. The broker itself is not pinned: it is the shared one.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { Kafka as KafkaJs, logLevel as kafkaJsLogLevel } from "kafkajs";
import { Consumer, ProduceAcks, Producer, type Message } from "@platformatic/kafka";
import { closeOnSignals, createAdmin, createConsumer, createProducer, createTransactionalProducer } from "../lib/src/kafka.js";
import { createLogger } from "../lib/src/log.js";
import { stackEndpoints } from "../lib/src/stack-endpoints.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RECORD_BYTES = 200;
// "stoq" is lib/src/kafka.ts itself (over @platformatic/kafka): what the wrapper costs on top of its client.
const CLIENTS = ["kafkajs", "platformatic", "confluent", "stoq"] as const;
type ClientName = (typeof CLIENTS)[number];
type CaseName = "produce-p1" | "produce-p6" | "consume-p1" | "consume-p6" | "transactions" | "latency";

interface Plan {
  readonly brokers: string[];
  readonly records: number;
  readonly latencySamples: number;
  readonly recordsPerTransaction: number;
  readonly topics: Record<"p1" | "p6" | "tx" | "lat", string>;
  readonly confluentDir: string | null;
}

/** One measured case; `recordsPerSec` is absent for latency, `p50Ms`/`p99Ms` only there. */
interface CaseResult {
  readonly client: ClientName | "java";
  readonly case: CaseName;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSec?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** Consume only: from subscribing to the group's assignment (not counted in records/s). */
  readonly joinMs?: number;
  /** CPU seconds (user+system) spent in the case; for Java the whole JVM run, start-up and JIT included. */
  readonly cpuSeconds?: number;
  readonly note?: string;
}

// ---------------------------------------------------------------------------------------------------
// The drivers: what each client does best for each case, behind one shape.

interface Driver {
  produce(topic: string, values: Buffer[]): Promise<void>;
  produceInTransactions(topic: string, values: Buffer[], perTransaction: number): Promise<number>;
  produceOneAwaited(topic: string, value: Buffer): Promise<void>;
  /** Resolves with the time the group assigned partitions, once `expected` records have arrived. */
  consume(topic: string, groupId: string, expected: number): Promise<number>;
  close(): Promise<void>;
}

// kafkajs assigns idempotent sequence numbers when a request completes, so sends to one partition must
// not overlap: one awaited send of a large batch at a time is its best idempotent shape.
const KAFKAJS_BATCH = 3000;
// @platformatic/kafka forces one in-flight request per connection when idempotent; same shape as kafkajs.
const PLATFORMATIC_BATCH = 3000;
// librdkafka batches by itself (linger.ms, batch.size); the JS side only has to keep it fed, so several
// sends stay outstanding at once and it pipelines up to 5 in-flight requests, idempotence included.
const CONFLUENT_BATCH = 1000;
const CONFLUENT_OUTSTANDING = 16;

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function kafkaJsDriver(brokers: string[]): Promise<Driver> {
  const kafka = new KafkaJs({ clientId: "stoq-bench", brokers, logLevel: kafkaJsLogLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const txProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId: `stoq-bench-kafkajs-${process.pid}` });
  await txProducer.connect();
  return {
    async produce(topic, values) {
      for (const batch of chunks(values, KAFKAJS_BATCH)) {
        await producer.send({ topic, acks: -1, messages: batch.map((value) => ({ value })) });
      }
    },
    async produceInTransactions(topic, values, perTransaction) {
      let n = 0;
      for (const batch of chunks(values, perTransaction)) {
        const tx = await txProducer.transaction();
        await tx.send({ topic, acks: -1, messages: batch.map((value) => ({ value })) });
        await tx.commit();
        n++;
      }
      return n;
    },
    async produceOneAwaited(topic, value) {
      await producer.send({ topic, acks: -1, messages: [{ value }] });
    },
    async consume(topic, groupId, expected) {
      const consumer = kafka.consumer({ groupId, maxBytes: 50 << 20, maxBytesPerPartition: 8 << 20 });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      let seen = 0;
      let assignedAt = 0;
      consumer.on(consumer.events.GROUP_JOIN, () => (assignedAt ||= performance.now()));
      await new Promise<void>((done, fail) => {
        consumer
          .run({
            eachBatch: async ({ batch }) => {
              seen += batch.messages.length;
              if (seen >= expected) done();
              return Promise.resolve();
            },
          })
          .catch(fail);
      });
      await consumer.disconnect();
      return assignedAt;
    },
    async close() {
      await producer.disconnect();
      await txProducer.disconnect();
    },
  };
}

async function platformaticDriver(brokers: string[]): Promise<Driver> {
  const base = { clientId: "stoq-bench", bootstrapBrokers: brokers };
  const producer = new Producer({ ...base, idempotent: true, acks: ProduceAcks.ALL, compression: "none" });
  const txProducer = new Producer({
    ...base,
    idempotent: true,
    acks: ProduceAcks.ALL,
    transactionalId: `stoq-bench-platformatic-${process.pid}`,
    // The next transaction's AddPartitionsToTxn meets CONCURRENT_TRANSACTIONS while the broker still writes
    // the last one's markers; the default 1 s retry delay would dominate, the Java client waits 20 ms.
    retryDelay: 20,
  });
  return Promise.resolve({
    async produce(topic, values) {
      for (const batch of chunks(values, PLATFORMATIC_BATCH)) {
        await producer.send({ messages: batch.map((value) => ({ topic, value })) });
      }
    },
    async produceInTransactions(topic, values, perTransaction) {
      let n = 0;
      for (const batch of chunks(values, perTransaction)) {
        const tx = await txProducer.beginTransaction();
        await tx.send({ messages: batch.map((value) => ({ topic, value })) });
        await tx.commit();
        n++;
      }
      return n;
    },
    async produceOneAwaited(topic, value) {
      await producer.send({ messages: [{ topic, value }] });
    },
    async consume(topic, groupId, expected) {
      // Larger fetches and stream buffer than the defaults (1 MiB default per partition, 1024 messages): ~10% faster here.
      const consumer = new Consumer({ ...base, groupId, maxBytes: 50 << 20, maxBytesPerPartition: 8 << 20, highWaterMark: 16384 });
      let assignedAt = 0;
      consumer.on("consumer:group:join", () => (assignedAt ||= performance.now()));
      const stream = await consumer.consume({ topics: [topic], mode: "committed", fallbackMode: "earliest", autocommit: 1000 });
      let seen = 0;
      await new Promise<void>((done, fail) => {
        stream.on("data", (_m: Message) => {
          if (++seen === expected) done();
        });
        stream.on("error", fail);
      });
      await stream.close();
      await consumer.close();
      return assignedAt;
    },
    async close() {
      await producer.close();
      await txProducer.close();
    },
  });
}

// The slice of @confluentinc/kafka-javascript's KafkaJS-style API used here; it is loaded from a
// directory outside the repository, so its types are declared at this boundary rather than imported.
interface CkProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(r: { topic: string; messages: { value: Buffer }[] }): Promise<unknown>;
  transaction(): Promise<CkProducer>;
  commit(): Promise<void>;
}
interface CkConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(s: { topics: string[] }): Promise<void>;
  run(r: { eachBatch: (p: { batch: { messages: unknown[] } }) => Promise<void> }): Promise<void>;
}
interface CkKafka {
  producer(config: Record<string, unknown>): CkProducer;
  consumer(config: Record<string, unknown>): CkConsumer;
}
interface CkModule {
  KafkaJS: { Kafka: new (config: Record<string, unknown>) => CkKafka; logLevel: Record<string, number> };
  librdkafkaVersion: string;
}

function loadConfluent(dir: string): CkModule {
  const require = createRequire(join(resolve(dir), "package.json"));
  return require("@confluentinc/kafka-javascript") as CkModule;
}

async function confluentDriver(brokers: string[], dir: string): Promise<Driver> {
  const ck = loadConfluent(dir);
  const kafka = new ck.KafkaJS.Kafka({ kafkaJS: { clientId: "stoq-bench", brokers, logLevel: ck.KafkaJS.logLevel["NOTHING"] } });
  const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1, compression: "none" } });
  // A single awaited record must not wait for librdkafka's default 5 ms linger.
  const oneProducer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1 }, "linger.ms": 0 });
  const txProducer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1, transactionalId: `stoq-bench-confluent-${process.pid}` } });
  await Promise.all([producer.connect(), oneProducer.connect(), txProducer.connect()]);
  return {
    async produce(topic, values) {
      const inFlight = new Set<Promise<unknown>>();
      for (const batch of chunks(values, CONFLUENT_BATCH)) {
        const p = producer.send({ topic, messages: batch.map((value) => ({ value })) });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p)).catch(() => undefined);
        if (inFlight.size >= CONFLUENT_OUTSTANDING) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    },
    async produceInTransactions(topic, values, perTransaction) {
      let n = 0;
      for (const batch of chunks(values, perTransaction)) {
        const tx = await txProducer.transaction();
        await tx.send({ topic, messages: batch.map((value) => ({ value })) });
        await tx.commit();
        n++;
      }
      return n;
    },
    async produceOneAwaited(topic, value) {
      await oneProducer.send({ topic, messages: [{ value }] });
    },
    async consume(topic, groupId, expected) {
      let assignedAt = 0;
      const consumer = kafka.consumer({
        kafkaJS: { groupId, fromBeginning: true },
        "js.consumer.max.batch.size": -1,
        rebalance_cb: () => void (assignedAt ||= performance.now()),
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic] });
      let seen = 0;
      await new Promise<void>((done, fail) => {
        consumer
          .run({
            eachBatch: async ({ batch }) => {
              seen += batch.messages.length;
              if (seen >= expected) done();
              return Promise.resolve();
            },
          })
          .catch(fail);
      });
      await consumer.disconnect();
      return assignedAt;
    },
    async close() {
      await Promise.all([producer.disconnect(), oneProducer.disconnect(), txProducer.disconnect()]);
    },
  };
}

async function stoqDriver(brokers: string[]): Promise<Driver> {
  const conn = { brokers, clientId: "stoq-bench" };
  const logger = createLogger("bench", "warn");
  const producer = createProducer(conn, { logger });
  const txProducer = createTransactionalProducer(conn, `stoq-bench-stoq-${process.pid}`);
  return Promise.resolve({
    async produce(topic, values) {
      // The module batches by itself (requests of up to 768 KiB); two calls stay outstanding so the next
      // request is always queued, and 2 x 20000 records stay well inside the 100000-record backlog bound.
      const outstanding: Promise<{ shed: number }>[] = [];
      const check = (r: { shed: number }): void => {
        if (r.shed > 0) throw new Error(`stoq producer shed ${r.shed} records`);
      };
      for (const batch of chunks(values, 20_000)) {
        if (outstanding.length >= 2) check(await outstanding.shift()!);
        const sent = producer.send(topic, batch.map((value) => ({ value })));
        sent.catch(() => undefined);
        outstanding.push(sent);
      }
      for (const sent of outstanding) check(await sent);
    },
    async produceInTransactions(topic, values, perTransaction) {
      let n = 0;
      for (const batch of chunks(values, perTransaction)) {
        const tx = await txProducer.begin();
        await tx.send(topic, batch.map((value) => ({ value })));
        await tx.commit();
        n++;
      }
      return n;
    },
    async produceOneAwaited(topic, value) {
      await producer.send(topic, [{ value }]);
    },
    async consume(topic, groupId, expected) {
      let seen = 0;
      let enough!: () => void;
      const done = new Promise<void>((r) => (enough = r));
      const consumer = createConsumer(conn, {
        groupId,
        topics: [topic],
        logger,
        eachBatch: (batch) => {
          seen += batch.values.length;
          if (seen >= expected) enough();
          return Promise.resolve();
        },
      });
      await consumer.start();
      const assignedAt = performance.now();
      await done;
      await consumer.close();
      return assignedAt;
    },
    async close() {
      await producer.close();
      await txProducer.close();
    },
  });
}

// ---------------------------------------------------------------------------------------------------
// Worker: runs every case of one client in this (pinned) process and prints one JSON line per case.

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

async function runWorker(client: ClientName, plan: Plan): Promise<void> {
  const drivers: Record<ClientName, () => Promise<Driver>> = {
    kafkajs: () => kafkaJsDriver(plan.brokers),
    platformatic: () => platformaticDriver(plan.brokers),
    confluent: () => confluentDriver(plan.brokers, plan.confluentDir ?? ""),
    stoq: () => stoqDriver(plan.brokers),
  };
  const driver = await drivers[client]();
  const values = Array.from({ length: plan.records }, () => randomBytes(RECORD_BYTES));
  const emit = (r: CaseResult): void => void process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);

  // Latency first: it also warms connections and metadata, which the throughput cases then reuse.
  for (let i = 0; i < 20; i++) await driver.produceOneAwaited(plan.topics.lat, values[i % values.length]!);
  const samples: number[] = [];
  let cpu = process.cpuUsage();
  let t0 = performance.now();
  for (let i = 0; i < plan.latencySamples; i++) {
    const s = performance.now();
    await driver.produceOneAwaited(plan.topics.lat, values[i % values.length]!);
    samples.push(performance.now() - s);
  }
  samples.sort((a, b) => a - b);
  emit({
    client,
    case: "latency",
    records: plan.latencySamples,
    seconds: (performance.now() - t0) / 1000,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    cpuSeconds: cpuSecondsSince(cpu),
  });

  for (const [name, topic] of [["produce-p1", plan.topics.p1], ["produce-p6", plan.topics.p6]] as const) {
    cpu = process.cpuUsage();
    t0 = performance.now();
    await driver.produce(topic, values);
    const seconds = (performance.now() - t0) / 1000;
    emit({ client, case: name, records: plan.records, seconds, recordsPerSec: plan.records / seconds, cpuSeconds: cpuSecondsSince(cpu) });
  }

  for (const [name, topic] of [["consume-p1", plan.topics.p1], ["consume-p6", plan.topics.p6]] as const) {
    cpu = process.cpuUsage();
    t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const assignedAt = await Promise.race([
      driver.consume(topic, `${topic}.${client}`, plan.records),
      new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`${client} ${name}: not all ${plan.records} records within 120 s`)), 120_000))),
    ]);
    clearTimeout(timer);
    const end = performance.now();
    // Same convention as ConsumerPerformance's fetch.nMsg.sec: the group join is reported, not counted.
    const seconds = (end - assignedAt) / 1000;
    emit({
      client,
      case: name,
      records: plan.records,
      seconds,
      recordsPerSec: plan.records / seconds,
      joinMs: assignedAt - t0,
      cpuSeconds: cpuSecondsSince(cpu),
    });
  }

  cpu = process.cpuUsage();
  t0 = performance.now();
  const transactions = await driver.produceInTransactions(plan.topics.tx, values, plan.recordsPerTransaction);
  const txSeconds = (performance.now() - t0) / 1000;
  emit({
    client,
    case: "transactions",
    records: plan.records,
    seconds: txSeconds,
    recordsPerSec: plan.records / txSeconds,
    cpuSeconds: cpuSecondsSince(cpu),
    note: `${transactions} transactions of ${plan.recordsPerTransaction}`,
  });
  await driver.close();
}

// ---------------------------------------------------------------------------------------------------
// The reference: the broker's own perf tools, same record size and count, pinned the same way.

function kafkaLibs(): string {
  const libs = join(ROOT, ".stoq", "kafka", "libs");
  const present = existsSync(libs) && readdirSync(libs).some((f) => f.startsWith("kafka-tools-"));
  if (!present) {
    process.stderr.write(`bench: fetching the Kafka jars into ${libs} (deploy/stack/pom.xml)\n`);
    const r = spawnSync(
      "mvn",
      ["-q", "-B", "-f", join(ROOT, "deploy/stack/pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${libs}`, "-DincludeScope=runtime"],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    if (r.status !== 0) throw new Error(`mvn could not fetch the Kafka jars into ${libs} (exit ${r.status})`);
  }
  return libs;
}

function pinned(cpu: string, cmd: string, args: string[]): [string, string[]] {
  return ["taskset", ["-c", cpu, cmd, ...args]];
}

// Runs through bash so that its `times` builtin reports the CPU the command used (user + system).
async function run(cmd: string, args: string[], timeoutMs: number): Promise<{ out: string; cpuSeconds: number }> {
  return new Promise((done, fail) => {
    const script = '"$@"; rc=$?; times >&2; exit $rc';
    const child = spawn("bash", ["-c", script, "bench", cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      const t = [...err.matchAll(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm)].at(-1);
      const cpuSeconds = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : NaN;
      if (code === 0) done({ out, cpuSeconds });
      else fail(new Error(`${cmd} ${args.slice(0, 6).join(" ")} ... exited ${code}\n${err.slice(-2000)}\n${out.slice(-2000)}`));
    });
  });
}

function java(libs: string, mainClass: string, args: string[]): string[] {
  return ["-Xmx512m", "-cp", `${libs}/*`, mainClass, ...args];
}

// "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, p50 ms 50th, p95 ms 95th, p99 ms 99th, ..."
function parseProducerPerformance(out: string): { recordsPerSec: number; p50Ms: number; p99Ms: number } {
  const line = out.split("\n").filter((l) => l.includes("records/sec") && l.includes("50th")).pop();
  const m = line?.match(/([\d.]+) records\/sec.*?(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th/);
  if (!m) throw new Error(`ProducerPerformance printed no summary line:\n${out.slice(-1000)}`);
  return { recordsPerSec: Number(m[1]), p50Ms: Number(m[2]), p99Ms: Number(m[4]) };
}

// CSV header then one row: start.time, end.time, data.consumed.in.MB, MB.sec, nMsg, nMsg.sec,
// rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
function parseConsumerPerformance(out: string): { records: number; rebalanceMs: number; fetchMs: number; recordsPerSec: number } {
  const row = out.trim().split("\n").pop()?.split(",").map((s) => s.trim());
  if (!row || row.length < 10) throw new Error(`ConsumerPerformance printed no result row:\n${out.slice(-1000)}`);
  return { records: Number(row[4]), rebalanceMs: Number(row[6]), fetchMs: Number(row[7]), recordsPerSec: Number(row[9]) };
}

async function runJava(plan: Plan, libs: string, cpu: string): Promise<CaseResult[]> {
  const bootstrap = plan.brokers.join(",");
  const results: CaseResult[] = [];
  const props = ["acks=all", "enable.idempotence=true", "compression.type=none"];
  // The Java client's best batching for this size: 256 KiB batches (default 16 KiB) nearly doubled its
  // rate here; the JS clients send up to ~800 KiB per request.
  const batching = ["batch.size=262144", "linger.ms=10"];
  const producerPerf = async (topic: string, records: number, extra: string[], producerProps: string[]): Promise<{ recordsPerSec: number; p50Ms: number; p99Ms: number; seconds: number; cpuSeconds: number }> => {
    const t0 = performance.now();
    const { out, cpuSeconds } = await run(
      ...pinned(cpu, "java", java(libs, "org.apache.kafka.tools.ProducerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", String(records), "--record-size", String(RECORD_BYTES),
        ...extra, "--command-property", ...props, ...producerProps,
      ])),
      600_000,
    );
    return { ...parseProducerPerformance(out), seconds: (performance.now() - t0) / 1000, cpuSeconds };
  };

  // Latency: one record at a time (a low fixed rate and no linger), which is what an awaited send is.
  const lat = await producerPerf(plan.topics.lat, plan.latencySamples, ["--throughput", "200"], ["linger.ms=0"]);
  results.push({ client: "java", case: "latency", records: plan.latencySamples, seconds: lat.seconds, p50Ms: lat.p50Ms, p99Ms: lat.p99Ms, cpuSeconds: lat.cpuSeconds, note: "ProducerPerformance at 200 records/s, linger.ms=0 (ms resolution)" });

  for (const [name, topic] of [["produce-p1", plan.topics.p1], ["produce-p6", plan.topics.p6]] as const) {
    const r = await producerPerf(topic, plan.records, ["--throughput", "-1"], batching);
    results.push({ client: "java", case: name, records: plan.records, seconds: plan.records / r.recordsPerSec, recordsPerSec: r.recordsPerSec, cpuSeconds: r.cpuSeconds, note: "ProducerPerformance" });
  }
  for (const [name, topic] of [["consume-p1", plan.topics.p1], ["consume-p6", plan.topics.p6]] as const) {
    const { out, cpuSeconds } = await run(
      ...pinned(cpu, "java", java(libs, "org.apache.kafka.tools.ConsumerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", String(plan.records), "--group", `${topic}.java`, "--timeout", "60000",
      ])),
      600_000,
    );
    const r = parseConsumerPerformance(out);
    results.push({ client: "java", case: name, records: r.records, seconds: r.fetchMs / 1000, recordsPerSec: r.recordsPerSec, joinMs: r.rebalanceMs, cpuSeconds, note: "ConsumerPerformance fetch.nMsg.sec" });
  }
  // ProducerPerformance commits on a timer, not a count: the timer is set from its own single-partition
  // rate in this run so that its transactions hold about as many records as the clients' do.
  const p1Rate = results.find((r) => r.case === "produce-p1")?.recordsPerSec ?? 100_000;
  const durationMs = Math.max(1, Math.round((plan.recordsPerTransaction / p1Rate) * 1000));
  const tx = await producerPerf(plan.topics.tx, plan.records, ["--throughput", "-1", "--transactional-id", `stoq-bench-java-${process.pid}`, "--transaction-duration-ms", String(durationMs)], batching);
  results.push({ client: "java", case: "transactions", records: plan.records, seconds: plan.records / tx.recordsPerSec, recordsPerSec: tx.recordsPerSec, cpuSeconds: tx.cpuSeconds, note: `ProducerPerformance, a commit every ${durationMs} ms` });
  return results;
}

// ---------------------------------------------------------------------------------------------------
// Orchestration and reporting.

async function brokerReachable(broker: string): Promise<boolean> {
  const [host, port] = broker.split(":");
  return new Promise((done) => {
    const s = connect({ host, port: Number(port) });
    s.setTimeout(2000);
    s.on("connect", () => (s.destroy(), done(true)));
    s.on("error", () => done(false));
    s.on("timeout", () => (s.destroy(), done(false)));
  });
}

function topicsFor(owner: string, runId: string): Plan["topics"] {
  const t = (s: string): string => `stoq.bench.${runId}.${owner}.${s}`;
  return { p1: t("p1"), p6: t("p6"), tx: t("tx"), lat: t("lat") };
}

function findConfluentDir(given: string | undefined): string | null {
  const dir = given ?? process.env["STOQ_CKJS_DIR"] ?? join(ROOT, ".stoq", "ckjs");
  try {
    loadConfluent(dir);
    return dir;
  } catch {
    return null;
  }
}

async function runClient(client: ClientName, plan: Plan, cpu: string): Promise<CaseResult[]> {
  const self = fileURLToPath(import.meta.url);
  const { out } = await run(
    ...pinned(cpu, process.execPath, ["--import", join(ROOT, "node_modules/tsx/dist/esm/index.mjs"), self, "--worker", client, "--plan", JSON.stringify(plan)]),
    900_000,
  );
  return out
    .split("\n")
    .filter((l) => l.startsWith("RESULT "))
    .map((l) => JSON.parse(l.slice(7)) as CaseResult);
}

function fmtRate(n: number | undefined): string {
  return n === undefined ? "-" : Math.round(n).toLocaleString("en-US");
}

function report(results: CaseResult[], json: boolean, meta: Record<string, unknown>): void {
  const ref = new Map(results.filter((r) => r.client === "java").map((r) => [r.case, r]));
  const rows = results.map((r) => {
    const j = ref.get(r.case);
    const ratio =
      r.recordsPerSec !== undefined && j?.recordsPerSec
        ? r.recordsPerSec / j.recordsPerSec
        : r.p50Ms !== undefined && j?.p50Ms
          ? r.p50Ms / j.p50Ms
          : undefined;
    const recordsPerCpuSec = r.recordsPerSec !== undefined && r.cpuSeconds ? r.records / r.cpuSeconds : undefined;
    return { ...r, recordsPerCpuSec, reference: j && r.client !== "java" ? { tool: j.note, recordsPerSec: j.recordsPerSec, p50Ms: j.p50Ms, p99Ms: j.p99Ms } : undefined, ratio: r.client === "java" ? undefined : ratio };
  });
  if (json) {
    for (const r of rows) process.stdout.write(`${JSON.stringify({ bench: "kafka", ...meta, ...r })}\n`);
    return;
  }
  process.stdout.write(`Kafka clients, ${String(meta["runRecords"])} records of ${RECORD_BYTES} B, acks=all, idempotent; clients on taskset -c ${String(meta["cpu"])}, Java tools on taskset -c ${String(meta["javaCpu"])}; broker ${String(meta["brokers"])}\n`);
  process.stdout.write("ratio = client / Java tool in this run (throughput: higher is better; latency p50: lower is better)\n\n");
  const header = ["client", "case", "records/s", "p50 ms", "p99 ms", "join ms", "cpu s", "rec/cpu-s", "ratio", "note"];
  const table = rows.map((r) => [
    r.client,
    r.case,
    fmtRate(r.recordsPerSec),
    r.p50Ms === undefined ? "-" : r.p50Ms.toFixed(2),
    r.p99Ms === undefined ? "-" : r.p99Ms.toFixed(2),
    r.joinMs === undefined ? "-" : String(Math.round(r.joinMs)),
    r.cpuSeconds === undefined ? "-" : r.cpuSeconds.toFixed(2),
    fmtRate(r.recordsPerCpuSec),
    r.ratio === undefined ? "-" : r.ratio.toFixed(2),
    r.note ?? "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [header, ...table]) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ")}\n`);
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      json: { type: "boolean", default: false },
      records: { type: "string", default: "100000" },
      brokers: { type: "string", default: stackEndpoints().brokers.join(",") },
      cpu: { type: "string", default: "0" },
      // The JVM tools run pinned to the same single core by default (same resources as each client).
      "java-cpu": { type: "string" },
      clients: { type: "string", default: CLIENTS.join(",") },
      "confluent-dir": { type: "string" },
      "records-per-transaction": { type: "string", default: "1000" },
      worker: { type: "string" },
      plan: { type: "string" },
    },
  });
  if (args.worker !== undefined) {
    await runWorker(args.worker as ClientName, JSON.parse(args.plan ?? "{}") as Plan);
    return;
  }
  const records = Number(args.records);
  const perTx = Number(args["records-per-transaction"]);
  if (!Number.isInteger(records) || records < 1000) throw new Error(`--records=${args.records}: need an integer >= 1000`);
  if (!Number.isInteger(perTx) || perTx < 1) throw new Error(`--records-per-transaction=${args["records-per-transaction"]}: need an integer >= 1`);
  const brokers = args.brokers.split(",");
  const javaCpu = args["java-cpu"] ?? args.cpu;
  if (!(await brokerReachable(brokers[0]!))) throw new Error(`no Kafka broker at ${brokers[0]}: start the stack with \`bin/stoq up\` or pass --brokers`);
  const wanted = args.clients.split(",") as ClientName[];
  for (const c of wanted) if (!CLIENTS.includes(c)) throw new Error(`--clients: unknown client ${c}; allowed: ${CLIENTS.join(", ")}`);
  const confluentDir = findConfluentDir(args["confluent-dir"]);
  const libs = kafkaLibs();
  const runId = `${Date.now().toString(36)}${process.pid}`;
  // Enough awaited round trips for a stable p99, few enough that the CI run stays quick.
  const latencySamples = Math.min(1000, Math.max(200, Math.floor(records / 100)));
  const owners = ["java", ...wanted];
  const plans = new Map(owners.map((o) => [o, { brokers, records, latencySamples, recordsPerTransaction: perTx, topics: topicsFor(o, runId), confluentDir } satisfies Plan]));

  const admin = createAdmin({ brokers, clientId: "stoq-bench-admin" });
  const allTopics = [...plans.values()].flatMap((p) => Object.entries(p.topics));
  // Interrupted runs delete their topics too; the pinned children get the same signal from the terminal.
  const unregister = closeOnSignals([{ close: () => admin.deleteTopics(allTopics.map(([, t]) => t)) }], { logger: createLogger("bench", "warn") });
  try {
    await admin.createTopics(allTopics.map(([k, name]) => ({ name, partitions: k === "p6" ? 6 : 1 })));
    const results: CaseResult[] = [];
    const skipped: string[] = [];
    results.push(...(await runJava(plans.get("java")!, libs, javaCpu)));
    for (const client of wanted) {
      if (client === "confluent" && confluentDir === null) {
        skipped.push("confluent: @confluentinc/kafka-javascript not found (build it with CKJS_LINKING=dynamic into a directory and pass --confluent-dir)");
        continue;
      }
      results.push(...(await runClient(client, plans.get(client)!, args.cpu)));
    }
    report(results, args.json, { runRecords: records, cpu: args.cpu, javaCpu, brokers: args.brokers });
    for (const s of skipped) process.stderr.write(`skipped ${s}\n`);
  } finally {
    unregister();
    await admin.deleteTopics(allTopics.map(([, t]) => t)).catch(() => undefined);
    await admin.close();
  }
}

await main();
