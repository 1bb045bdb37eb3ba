// Aggregator benchmark: records/s of the window core in memory (one core), RSS with 1 M domains and
// 1 M flows tracked, and records/s from Kafka through the real transactional loop, against the broker's
// own ConsumerPerformance reading the same topic in the same run.
//
//   npm run bench:aggregator -- [--json] [--small] [--cpu 1]
//
// Each measurement runs in its own process pinned with `taskset -c <cpu>`, so records/s is per core.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { decodeAs, encode, type DnsEvent, type FlowRecord } from "../lib/src/avro.js";
import { createAdmin, createProducer } from "../lib/src/kafka.js";
import { createLogger } from "../lib/src/log.js";
import { createAggregator } from "../services/aggregator/src/aggregator.js";
import { createKeyTables } from "../services/aggregator/src/bounds.js";
import { PartitionAggregation } from "../services/aggregator/src/partition-aggregation.js";
import { aggregatorSettings } from "../services/aggregator/src/settings.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SELF = fileURLToPath(import.meta.url);
const BROKERS = ["127.0.0.1:9092"];
// Aligned to the hour, so the minute and hour windows of a short run are not cut in two.
const T0 = 1_749_999_600_000;
const { values: opts } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    small: { type: "boolean", default: false },
    cpu: { type: "string", default: "1" },
    child: { type: "string" },
    records: { type: "string" },
    topic: { type: "string" },
  },
});

const settings = (): ReturnType<typeof aggregatorSettings> =>
  aggregatorSettings({ windowSizes: ["1s", "1m", "1h", "24h"], maxDomainsTracked: 1_000_000, concurrentFlowsLimit: 1_000_000, targetThroughputGbps: 40 });

// Deterministic generator: Zipf-like (log-uniform rank) domains over a million names, as DNS traffic is.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function dnsAt(i: number, rank: number, t: number): DnsEvent {
  const d = `d${rank}.example.com`;
  return {
    event_time_us: t * 1000,
    node: `node-${i & 3}`,
    // 65 536 clients ask for a million domains.
    src_addr: `10.0.${(rank >> 8) & 255}.${rank & 255}`,
    src_port: 40000 + (i & 1023),
    dst_addr: `10.255.0.${i & 7}`,
    dst_port: 53,
    transport: "udp",
    txid: i & 0xffff,
    is_response: (i & 1) === 1,
    opcode: 0,
    qname: `www.${d}`,
    registered_domain: d,
    qtype: 1,
    qclass: 1,
    rcode: i % 50 === 0 ? 3 : 0,
    flags: { aa: false, tc: false, rd: true, ra: (i & 1) === 1, ad: false, cd: false },
    answers: [],
    answer_count: 0,
    authority_count: 0,
    additional_count: 0,
    edns: null,
    query_size: 40,
    response_size: (i & 1) === 1 ? 120 : null,
    response_time_us: (i & 1) === 1 ? 200 + (rank % 20_000) : null,
    model_score: null,
    verdict: null,
    model_version: null,
  };
}

function flowAt(i: number, rank: number, t: number): FlowRecord {
  const packets = 2 + (rank % 30);
  const size = 60 + (rank % 1400);
  return {
    node: `node-${i & 3}`,
    ip_version: 4,
    protocol: 6,
    // A million flows between 65 536 clients and 100 000 servers.
    src_addr: `10.0.${(rank >> 8) & 255}.${rank & 255}`,
    dst_addr: `172.16.${Math.floor((rank * 7) % 100_000 / 256)}.${((rank * 7) % 100_000) & 255}`,
    src_port: 1024 + (rank % 60_000),
    dst_port: 443,
    first_seen_us: (t - 50 - (rank % 5000)) * 1000,
    last_seen_us: t * 1000,
    packets_fwd: packets,
    packets_rev: 0,
    bytes_fwd: packets * size,
    bytes_rev: 0,
    size_sum: packets * size,
    size_sumsq: packets * size * size,
    iat_sum_us: (packets - 1) * 1000,
    iat_sumsq_us2: (packets - 1) * 1e6,
    iat_min_us: 1000,
    iat_max_us: 1000,
    tcp_flags_fwd: 0x1b,
    tcp_flags_rev: 0,
    syn_count: 1,
    fin_count: 1,
    rst_count: 0,
    retransmissions: 0,
    zero_window_count: 0,
    rtt_us: null,
    end_reason: "fin",
    community_id: `1:${rank}`,
  };
}

/**
 * In memory: DNS events and flow records, 100 k records per event second, Zipf keys over a million.
 * The records are what the service ingests: decoded with lib/src/avro.ts (flat strings, the decoder's
 * object shapes) from a pool of encoded records, 8192 at a time like a consumed batch, the decoding
 * not timed. Timed: every record's ingest (all dimensions, sketches, heavy hitters), pane closes,
 * merges into every window and the emissions (rows built), as PartitionAggregation does them in the
 * service.
 */
function childInMemory(records: number): Record<string, number> {
  const s = settings();
  const tables = createKeyTables(s.bounds);
  const dns = new PartitionAggregation("bench/dns", "dns", s, tables);
  const flows = new PartitionAggregation("bench/flow", "flow", s, tables);
  const pool = 1 << 17;
  const rnd = rng(1);
  const dnsPool: Buffer[] = [];
  const flowPool: Buffer[] = [];
  for (let i = 0; i < pool; i++) {
    const rank = Math.floor(Math.pow(1_000_000, rnd())) - 1;
    dnsPool.push(encode("DnsEvent", dnsAt(i, rank, T0)));
    flowPool.push(encode("FlowRecord", flowAt(i, rank, T0)));
  }
  // One arena instead of 2 x 131 072 Buffers, so the pool adds next to nothing to the heap the GC marks.
  const pack = (bufs: Buffer[]): { bytes: Buffer; ends: Uint32Array } => {
    const ends = new Uint32Array(bufs.length);
    let end = 0;
    bufs.forEach((b, i) => (ends[i] = end += b.length));
    return { bytes: Buffer.concat(bufs), ends };
  };
  const packedDns = pack(dnsPool.splice(0));
  const packedFlows = pack(flowPool.splice(0));
  const decodeAt = <T>(name: "DnsEvent" | "FlowRecord", p: { bytes: Buffer; ends: Uint32Array }, i: number): T =>
    decodeAs<T>(name, p.bytes.subarray(i === 0 ? 0 : (p.ends[i - 1] ?? 0), p.ends[i] ?? 0));
  let rows = 0;
  const emit = (e: { rows: unknown[] }): void => {
    rows += e.rows.length;
  };
  const perSecond = 100_000;
  const half = Math.floor(records / 2);
  const batch = 8192;
  // CPU time of the timed parts: on a shared core, wall time also counts other processes' slices.
  let cpuSeconds = 0;
  const runOne = <T>(decodeOne: (i: number, tUs: number) => T, ingest: (r: T) => void, agg: PartitionAggregation): number => {
    const values: T[] = [];
    let ns = 0n;
    for (let base = 0; base < half; base += batch) {
      const n = Math.min(batch, half - base);
      values.length = 0;
      for (let i = base; i < base + n; i++) values.push(decodeOne(i, (T0 + Math.floor((i * 1000) / perSecond)) * 1000));
      const start = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      for (const v of values) ingest(v);
      agg.advance(T0 + Math.floor(((base + n - 1) * 1000) / perSecond) - 1000, emit);
      const cpu = process.cpuUsage(cpu0);
      cpuSeconds += (cpu.user + cpu.system) / 1e6;
      ns += process.hrtime.bigint() - start;
    }
    // Steady state: the flush of the still-open 1 h and 24 h windows at the end is not timed (in a
    // real stream it happens once an hour or a day).
    return Number(ns) / 1e9;
  };
  const dnsSeconds = runOne(
    (i, tUs) => {
      const ev = decodeAt<DnsEvent>("DnsEvent", packedDns, i & (pool - 1));
      ev.event_time_us = tUs;
      return ev;
    },
    (ev) => dns.ingestDns(ev),
    dns,
  );
  const flowSeconds = runOne(
    (i, tUs) => {
      const f = decodeAt<FlowRecord>("FlowRecord", packedFlows, i & (pool - 1));
      f.last_seen_us = tUs;
      f.first_seen_us = tUs - 50_000;
      return f;
    },
    (f) => flows.ingestFlow(f),
    flows,
  );
  return { records: 2 * half, seconds: dnsSeconds + flowSeconds, cpu_seconds: cpuSeconds, per_cpu_s: (2 * half) / cpuSeconds, dns_per_s: half / dnsSeconds, flows_per_s: half / flowSeconds, rows };
}

/** RSS with 1 M distinct domains (and query names) and 1 M distinct flows in the open windows. */
function childRss(): Record<string, number> {
  const s = settings();
  const tables = createKeyTables(s.bounds);
  const dns = new PartitionAggregation("bench/dns", "dns", s, tables);
  const flows = new PartitionAggregation("bench/flow", "flow", s, tables);
  const n = 1_000_000;
  // 50 event seconds, so the 1 min window holds every key too.
  for (let i = 0; i < n; i++) {
    const t = T0 + Math.floor((i * 50_000) / n);
    dns.ingestDns(dnsAt(i, i, t));
    flows.ingestFlow(flowAt(i, i, t));
    if ((i & 65535) === 65535) {
      dns.advance(t - 1000, () => undefined);
      flows.advance(t - 1000, () => undefined);
    }
  }
  (globalThis as { gc?: () => void }).gc?.();
  const domains = tables[2]?.size ?? 0;
  const flowKeys = tables[6]?.size ?? 0;
  const rss = process.memoryUsage().rss / 2 ** 20;
  return { rss_mib: rss, domains, flows: flowKeys, state_mib: (dns.byteSize + flows.byteSize) / 2 ** 20, heap_mib: process.memoryUsage().heapUsed / 2 ** 20 };
}

/** From Kafka: the real loop (transactions, changelog, offsets) over a topic of DNS events. */
async function childKafka(topic: string, records: number): Promise<Record<string, number>> {
  const run = randomUUID().slice(0, 8);
  let firstAt = 0;
  let doneAt = 0;
  let cpuAtJoin: NodeJS.CpuUsage | null = null;
  let cpuSeconds = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const agg = createAggregator({
    kafka: { brokers: BROKERS, clientId: "bench-aggregator" },
    settings: settings(),
    groupId: `bench.agg.${run}`,
    instance: "bench",
    topics: { dns: topic, flows: `${topic}.flows`, aggregates: `${topic}.out`, state: `${topic}.state`, dlq: `${topic}.dlq` },
    statePartitions: 6,
    maxBatchRecords: 20_000,
    log: createLogger("bench-aggregator", "warn"),
    onCommitted: () => {
      const st = agg.stats();
      if (firstAt === 0 && st.records > 0) firstAt = performance.now();
      if (st.records >= records && doneAt === 0) {
        doneAt = performance.now();
        const cpu = process.cpuUsage(cpuAtJoin ?? undefined);
        cpuSeconds = (cpu.user + cpu.system) / 1e6;
        resolveDone();
      }
    },
  });
  const t0 = performance.now();
  await agg.start();
  const joinedAt = performance.now();
  // CPU time besides wall time: on a shared core the wall time also counts other processes' slices.
  cpuAtJoin = process.cpuUsage();
  await Promise.race([done, agg.stopped.then(() => Promise.reject(new Error("the aggregator stopped before the end of the topic")))]);
  await agg.close();
  const st = agg.stats();
  // Like ConsumerPerformance's fetch.nMsg.sec: from the group join to the last record, join excluded.
  return { records: st.records, seconds: (doneAt - joinedAt) / 1000, cpu_seconds: cpuSeconds, per_cpu_s: st.records / cpuSeconds, join_ms: joinedAt - t0, transactions: st.transactions, restores: st.restores };
}

/**
 * The aggregator's memory settings (docs/aggregator.md): a 2 MiB young generation, since the hot path
 * allocates little, and glibc returning large freed arrays to the system instead of keeping them.
 */
export const MEMORY_NODE_FLAGS = ["--max-semi-space-size=2"];
export const MEMORY_ENV = { MALLOC_MMAP_THRESHOLD_: "131072" };

function runChild(args: string[], cpu: string, node: string[] = [], env: Record<string, string> = {}): Promise<Record<string, number>> {
  return new Promise((done, fail) => {
    const child = spawn("taskset", ["-c", cpu, process.execPath, ...node, "--import", "tsx", SELF, ...args], { stdio: ["ignore", "pipe", "inherit"], cwd: ROOT, env: { ...process.env, ...env } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => {
      if (code !== 0) fail(new Error(`bench child ${args.join(" ")} exited ${code}`));
      else done(JSON.parse(out.trim().split("\n").pop() ?? "{}") as Record<string, number>);
    });
  });
}

function runJava(args: string[], cpu: string): Promise<string> {
  const libs = join(ROOT, ".stoq", "kafka", "libs");
  if (!existsSync(libs) || !readdirSync(libs).some((f) => f.startsWith("kafka-tools-"))) throw new Error(`no Kafka jars in ${libs}: run \`bin/stoq up\` (or npm run setup) first`);
  return new Promise((done, fail) => {
    const child = spawn("taskset", ["-c", cpu, "java", "-Xmx512m", "-cp", `${libs}/*`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => (code === 0 ? done(out) : fail(new Error(`java exited ${code}: ${err.slice(-1500)}`))));
  });
}

async function produceTopic(topic: string, records: number): Promise<void> {
  const admin = createAdmin({ brokers: BROKERS, clientId: "bench-aggregator" });
  await admin.createTopics([
    { name: topic, partitions: 6 },
    { name: `${topic}.flows`, partitions: 6 },
    { name: `${topic}.out`, partitions: 6 },
    { name: `${topic}.dlq`, partitions: 1 },
  ]);
  await admin.close();
  const producer = createProducer({ brokers: BROKERS, clientId: "bench-aggregator" }, { maxBacklogRecords: 200_000 });
  const rnd = rng(3);
  const perSecond = 50_000;
  for (let base = 0; base < records; base += 20_000) {
    const chunk = [];
    for (let i = base; i < Math.min(records, base + 20_000); i++) {
      const rank = Math.floor(Math.pow(1_000_000, rnd())) - 1;
      chunk.push({ key: `d${rank}.example.com`, value: encode("DnsEvent", dnsAt(i, rank, T0 + Math.floor((i * 1000) / perSecond))) });
    }
    await producer.send(topic, chunk);
  }
  await producer.close();
}

async function deleteTopics(topic: string): Promise<void> {
  const admin = createAdmin({ brokers: BROKERS, clientId: "bench-aggregator" });
  await admin.deleteTopics([topic, `${topic}.flows`, `${topic}.out`, `${topic}.state`, `${topic}.dlq`]).catch(() => undefined);
  await admin.close();
}

async function main(): Promise<void> {
  if (opts.child === "inmem") return void process.stdout.write(`${JSON.stringify(childInMemory(Number(opts.records)))}\n`);
  if (opts.child === "rss") return void process.stdout.write(`${JSON.stringify(childRss())}\n`);
  if (opts.child === "kafka") return void process.stdout.write(`${JSON.stringify(await childKafka(opts.topic ?? "", Number(opts.records)))}\n`);

  const small = opts.small === true;
  const cpu = opts.cpu ?? "1";
  const log = (s: string): void => void (opts.json ? undefined : process.stderr.write(`${s}\n`));
  const inMemRecords = small ? 400_000 : 4_000_000;
  log(`in memory: ${inMemRecords} records on cpu ${cpu}`);
  const inmem = await runChild(["--child", "inmem", "--records", String(inMemRecords)], cpu);
  log(`rss: 1 M domains + 1 M flows`);
  const rss = small ? null : await runChild(["--child", "rss"], cpu, ["--expose-gc", ...MEMORY_NODE_FLAGS], MEMORY_ENV);
  const kafkaRecords = small ? 100_000 : 1_000_000;
  const topic = `bench.agg.${randomUUID().slice(0, 8)}`;
  log(`kafka: producing ${kafkaRecords} DNS events to ${topic}`);
  await produceTopic(topic, kafkaRecords);
  try {
    log("kafka: ConsumerPerformance");
    const java = await runJava(["org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", BROKERS.join(","), "--topic", topic, "--num-records", String(kafkaRecords), "--group", `${topic}.java`, "--timeout", "120000"], cpu);
    const row = java.trim().split("\n").pop()?.split(",").map((x) => x.trim()) ?? [];
    const javaRate = Number(row[9]);
    log("kafka: aggregator");
    const fromKafka = await runChild(["--child", "kafka", "--topic", topic, "--records", String(kafkaRecords)], cpu);
    const aggRate = (fromKafka["records"] ?? 0) / (fromKafka["seconds"] ?? 1);
    const result = {
      records_per_s_in_memory: Math.round((inmem["records"] ?? 0) / (inmem["seconds"] ?? 1)),
      records_per_s_from_kafka: Math.round(aggRate),
      kafka_consumer_perf_records_per_s: Math.round(javaRate),
      ratio_from_kafka: Number((aggRate / javaRate).toFixed(3)),
      rss_mib_1m_domains_1m_flows: rss === null ? null : Math.round(rss["rss_mib"] ?? 0),
      detail: { in_memory: inmem, rss, rss_settings: { node: MEMORY_NODE_FLAGS, env: MEMORY_ENV }, from_kafka: fromKafka, small },
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await deleteTopics(topic);
  }
}

await main();
process.exit(0);
