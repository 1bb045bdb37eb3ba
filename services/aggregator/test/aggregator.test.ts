// Exactly once and scale-out against the real broker: an aggregator killed with SIGKILL mid-stream and
// restarted, and two instances sharing one group, each publish the same final aggregates as one
// uninterrupted instance.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { decodeAs, encode, type WindowAggregate } from "../../../lib/src/avro.js";
import { createAdmin, createConsumer, createProducer } from "../../../lib/src/kafka.js";
import { DNS_FIELDS, FLOW_FIELDS } from "../src/aggregator.js";
import { createKeyTables } from "../src/bounds.js";
import { aggregatorSettings } from "../src/settings.js";
import { Task } from "../src/task.js";
import { dnsEvent, flowRecord } from "./records.js";

const kafka = { brokers: ["127.0.0.1:9092"], clientId: "aggregator-test" };
const run = randomUUID().slice(0, 8);
const T0 = 1_750_000_000_000;
const PER_PARTITION_DNS = 3000;
const PER_PARTITION_FLOWS = 1200;
const name = (s: string): string => `test.agg.${run}.${s}`;
const inputs = { dns: name("dns"), flows: name("flows"), dlq: name("dlq") };
const firstInputs = inputs;
const created: string[] = [];
const admin = createAdmin(kafka);

after(async () => {
  for (const c of live) c.proc.kill("SIGKILL");
  await admin.deleteTopics(created).catch(() => undefined);
  await admin.close();
});

type Inputs = typeof inputs;

async function topicsFor(label: string, from: Inputs = inputs): Promise<{ dns: string; flows: string; aggregates: string; state: string; dlq: string }> {
  const t = { ...from, aggregates: name(`${label}.aggregates`), state: name(`${label}.state`) };
  await admin.createTopics([{ name: t.aggregates, partitions: 2 }]);
  created.push(t.aggregates, t.state);
  return t;
}

async function createInputs(inputs: Inputs): Promise<void> {
  await admin.createTopics([
    { name: inputs.dns, partitions: 2 },
    { name: inputs.flows, partitions: 2 },
    { name: inputs.dlq, partitions: 1 },
  ]);
  created.push(inputs.dns, inputs.flows, inputs.dlq);
}

async function produceInputs(inputs: Inputs): Promise<void> {
  const producer = createProducer(kafka);
  let seed = 5;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let p = 0; p < 2; p++) {
    const dns = [];
    for (let i = 0; i < PER_PARTITION_DNS; i++) {
      let t = T0 + i * 4 + rnd() * 400;
      if (i % 301 === 0) t -= 1200; // late: revises a 1 s window
      const d = `p${p}-d${Math.floor(rnd() * rnd() * 60)}.com`;
      dns.push({ value: encode("DnsEvent", dnsEvent({ t, registered_domain: d, qname: `w${i % 9}.${d}`, src_addr: `198.18.${p}.${i % 17}`, is_response: i % 2 === 1, response_time_us: i % 2 ? 200 + Math.floor(rnd() * 9000) : null, rcode: i % 13 === 0 ? 3 : 0, node: `node-${i % 2}` })), partition: p });
      if (i === 1000) dns.push({ value: Buffer.from("not avro at all"), partition: p });
    }
    dns.push({ value: encode("DnsEvent", dnsEvent({ t: T0 + 3_600_000 })), partition: p }); // moves the watermark past every window
    await producer.send(inputs.dns, dns);
    const flows = [];
    for (let i = 0; i < PER_PARTITION_FLOWS; i++) {
      const t = T0 + i * 10 + rnd() * 300;
      flows.push({ value: encode("FlowRecord", flowRecord({ t, sizes: [60 + (i % 40), 1500, 40 + (i % 7)], durationMs: 1 + (i % 500) * 7, src_addr: `198.18.${p}.${i % 23}`, dst_addr: `198.19.0.${i % 5}`, src_port: 1024 + i })), partition: p });
    }
    flows.push({ value: encode("FlowRecord", flowRecord({ t: T0 + 3_600_000, sizes: [100] })), partition: p });
    await producer.send(inputs.flows, flows);
  }
  await producer.close();
}

type View = Map<string, WindowAggregate>;

/**
 * Everything committed to `topic` so far, highest revision per task, window and key: a fresh reader
 * each time, read until it has been idle for a second.
 */
async function readOutput(topic: string): Promise<View> {
  const view: View = new Map();
  lastView = view;
  let lastRecordAt = Date.now();
  const c = createConsumer(kafka, {
    groupId: name(`reader.${randomUUID()}`),
    topics: [topic],
    start: "earliest",
    readCommitted: true,
    eachBatch: (batch) => {
      lastRecordAt = Date.now();
      for (const r of batch.records) {
        const a = decodeAs<WindowAggregate>("WindowAggregate", r.value ?? Buffer.alloc(0));
        const k = `${a.aggregator_instance}|${a.size_ms}/${a.hop_ms}|${a.window_start_ms}|${a.dimension}|${a.key}`;
        const prev = view.get(k);
        if (prev !== undefined && prev.revision === a.revision && JSON.stringify(prev) !== JSON.stringify(a)) throw new Error(`two different values for ${k} revision ${a.revision}`);
        if (prev === undefined || a.revision >= prev.revision) view.set(k, a);
      }
      return Promise.resolve();
    },
  });
  await c.start();
  while (Date.now() - lastRecordAt < 1000) await new Promise((r) => setTimeout(r, 200));
  await c.close();
  return view;
}

async function untilComplete(topic: string, what: string, ms: number, from: Inputs = inputs): Promise<View> {
  const deadline = Date.now() + ms;
  for (;;) {
    assertAlive();
    const view = await readOutput(topic);
    if (complete(view, from)) return view;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${diagnose()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// Done when every task published its last 10 s window as final.
function complete(view: View, inputs: Inputs = firstInputs): boolean {
  const lastDns = T0 + 10_000; // records span ~12 s
  let finals = 0;
  for (const [task] of [[inputs.dns], [inputs.flows]]) {
    for (const p of [0, 1]) {
      const k = `${task}/${p}|10000/10000|${lastDns}|global|`;
      if (view.get(k)?.final === true) finals++;
    }
  }
  return finals === 4;
}

let lastView: View = new Map();
function diagnose(): string {
  const finals = [...lastView.entries()].filter(([, a]) => a.dimension === "global" && a.size_ms === 10_000 && a.hop_ms === 10_000).map(([k, a]) => `${k}:${a.final}`);
  return `${lastView.size} rows; 10 s globals: ${finals.join(", ")}`;
}

async function waitFor(what: string, f: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    assertAlive();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${diagnose()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

const live = new Set<Child>();

/** A child that exits on its own (not killed by the test) fails the test at once. */
function assertAlive(): void {
  for (const c of live) if (c.proc.exitCode !== null) throw new Error(`aggregator child exited with ${c.proc.exitCode}`);
}

function startInstance(topics: object, group: string, instance: string): Child {
  const script = fileURLToPath(new URL("./aggregator-process.ts", import.meta.url));
  const proc = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, STOQ_AGG_TEST: JSON.stringify({ topics, group, instance }) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  proc.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  const child = { proc, lines, exited };
  live.add(child);
  return child;
}

async function stop(c: Child, signal: NodeJS.Signals): Promise<void> {
  live.delete(c);
  c.proc.kill(signal);
  const code = await c.exited;
  // The child exits 3 when its aggregator stops on an error, e.g. a last commit refused after leaving the group.
  if (signal === "SIGTERM") assert.equal(code, 0, "SIGTERM closes the aggregator cleanly");
}

function comparable(v: View, from: Inputs): Map<string, unknown> {
  const out = new Map<string, unknown>();
  // Tasks are named by input topic and partition; runs over copies of the inputs compare by stream.
  const stream = (s: string): string => s.replace(`${from.dns}/`, "dns/").replace(`${from.flows}/`, "flows/");
  for (const [k, a] of v) {
    // Revision numbers depend on when batches happened to close windows; the figures must not.
    out.set(stream(k), { ...a, aggregator_instance: stream(a.aggregator_instance), revision: 0, late_count: 0, measures: a.measures.map((m) => ({ ...m, mean: Number(m.mean.toPrecision(12)), variance: Number(m.variance.toPrecision(9)) })) });
  }
  return out;
}

function assertSameAggregates(actual: View, expected: View, label: string, from: Inputs = inputs): void {
  const a = comparable(actual, from);
  const e = comparable(expected, inputs);
  const missing = [...e.keys()].filter((k) => !a.has(k));
  const extra = [...a.keys()].filter((k) => !e.has(k));
  assert.deepEqual({ missing: missing.slice(0, 5), extra: extra.slice(0, 5) }, { missing: [], extra: [] }, `${label}: keys differ`);
  for (const [k, v] of e) assert.deepEqual(a.get(k), v, `${label}: ${k}`);
}

let reference: View;

test("an uninterrupted aggregator publishes every window once complete", { timeout: 180_000 }, async () => {
  await createInputs(inputs);
  await produceInputs(inputs);
  const topics = await topicsFor("ref");
  const c = startInstance(topics, name("group.ref"), "ref");
  reference = await untilComplete(topics.aggregates, "the reference run", 120_000);
  await stop(c, "SIGTERM");
  const last = c.lines.at(-1);
  assert.ok(Number(last?.["restores"]) > 1 && Number(last?.["changelogReads"]) < Number(last?.["restores"]), `one pass over the changelog restores several tasks (${JSON.stringify(last)})`);
  const globals1s = [...reference.values()].filter((a) => a.dimension === "global" && a.size_ms === 1000 && a.aggregator_instance.startsWith(inputs.dns));
  const counted = globals1s.reduce((s, a) => s + a.count, 0);
  // Every DNS record but the sentinels and the malformed ones is in exactly one 1 s window.
  assert.equal(counted, 2 * PER_PARTITION_DNS);
  // The malformed record of each partition went to the DLQ, once.
  const dead = await admin.endOffsets(inputs.dlq);
  assert.equal(dead.reduce((s, n) => s + n, 0n), 2n, "one dead letter per input partition");
});

test("kill -9 mid-stream and a restart lose no window and count none twice", { timeout: 240_000 }, async () => {
  const topics = await topicsFor("kill");
  const first = startInstance(topics, name("group.kill"), "kill");
  await waitFor("a few committed transactions", () => first.lines.filter((l) => Number(l["committed"]) > 0).length >= 2, 120_000);
  await stop(first, "SIGKILL");
  assert.equal(complete(await readOutput(topics.aggregates)), false, "the kill happened before the stream was done");
  const second = startInstance(topics, name("group.kill"), "kill");
  const view = await untilComplete(topics.aggregates, "the restarted run", 120_000);
  await stop(second, "SIGTERM");
  const restored = second.lines.at(-1);
  assert.ok(Number(restored?.["restores"]) >= 1, "the restarted instance rebuilt tasks from the changelog");
  assertSameAggregates(view, reference, "after kill -9");
});

test("two instances in one group split the partitions and publish what one instance does", { timeout: 240_000 }, async () => {
  // Fresh copies of the inputs, produced once both instances have joined, so neither takes all.
  const copy = { dns: name("dns2"), flows: name("flows2"), dlq: name("dlq2") };
  await createInputs(copy);
  const topics = await topicsFor("scale", copy);
  const a = startInstance(topics, name("group.scale"), "scale-a");
  const b = startInstance(topics, name("group.scale"), "scale-b");
  await waitFor("both instances in the group", () => a.lines.length > 0 && b.lines.length > 0, 60_000);
  await produceInputs(copy);
  const view = await untilComplete(topics.aggregates, "the two-instance run", 120_000, copy);
  const tasksA = Number(a.lines.at(-1)?.["tasks"] ?? 0);
  const tasksB = Number(b.lines.at(-1)?.["tasks"] ?? 0);
  await Promise.all([stop(a, "SIGTERM"), stop(b, "SIGTERM")]);
  assert.ok(tasksA > 0 && tasksB > 0, `both instances own partitions (${tasksA}, ${tasksB})`);
  assertSameAggregates(view, reference, "two instances", copy);
});

test("the decoded fields are every field ingestion reads", () => {
  // Records that take every branch: queries and responses, NXDOMAIN, keys past the bounds (overflow),
  // flows with and without a community id, late records.
  const settings = aggregatorSettings({ windowSizes: ["1s", "10s"], maxDomainsTracked: 2, concurrentFlowsLimit: 2, allowedLatenessMs: 1000 });
  const read = new Set<string>();
  const watch = <T extends object>(value: T): T =>
    new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === "string") read.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
  const dns = Array.from({ length: 40 }, (_, i) =>
    dnsEvent({ t: T0 + i * 100 - (i % 7 === 6 ? 3000 : 0), is_response: i % 2 === 1, rcode: i % 3 === 0 ? 3 : 0, response_time_us: i % 2 === 1 ? 100 + i : null, response_size: i % 2 === 1 ? 90 : null, qname: `q${i}.d${i}.com`, registered_domain: `d${i}.com`, src_addr: `198.18.0.${i}` }),
  );
  const flows = Array.from({ length: 40 }, (_, i) =>
    flowRecord({ t: T0 + i * 100 - (i % 7 === 6 ? 3000 : 0), sizes: i % 5 === 0 ? [] : [60, 1500, 40 + i], community_id: i % 2 === 0 ? `1:${i}` : null, end_reason: i % 3 === 0 ? "rst" : "fin", rst_count: i % 4 === 0 ? 1 : 0, src_addr: `198.18.0.${i}` }),
  );
  for (const [stream, records, fields] of [["dns", dns, DNS_FIELDS], ["flow", flows, FLOW_FIELDS]] as const) {
    read.clear();
    const task = new Task<number>(`t/${stream}`, stream, settings, createKeyTables(settings.bounds));
    task.ingest(
      records.map((_, i) => i),
      (i) => watch(records[i]!),
      0,
    );
    task.advanceTo(T0 + 60_000);
    const missing = [...read].filter((k) => !(fields as readonly string[]).includes(k));
    assert.deepEqual(missing, [], `${stream}: ingestion reads fields the aggregator does not decode`);
    task.dispose();
  }
});
