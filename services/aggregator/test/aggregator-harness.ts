// The harness of the aggregator tests against the real broker: unique topics (deleted after), the
// deterministic inputs, child instances (aggregator-process.ts), and reading and comparing the committed
// aggregates with a run of one uninterrupted instance.
import { after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { decodeAs, encode, type WindowAggregate } from "../../../lib/src/avro.js";
import { createAdmin, createConsumer, createProducer, type ProduceRecord } from "../../../lib/src/kafka.js";
import { dnsEvent, flowRecord } from "./records.js";

export const kafka = { brokers: ["127.0.0.1:9092"], clientId: "aggregator-test" };
const run = randomUUID().slice(0, 8);
export const T0 = 1_750_000_000_000;
export const PER_PARTITION_DNS = 3000;
const PER_PARTITION_FLOWS = 1200;
export const name = (s: string): string => `test.agg.${run}.${s}`;
export const inputs = { dns: name("dns"), flows: name("flows"), dlq: name("dlq") };
const firstInputs = inputs;
const created: string[] = [];
export const admin = createAdmin(kafka);

after(async () => {
  for (const c of live) c.proc.kill("SIGKILL");
  await admin.deleteTopics(created).catch(() => undefined);
  await admin.close();
});

export type Inputs = typeof inputs;

export async function topicsFor(label: string, from: Inputs = inputs): Promise<{ dns: string; flows: string; aggregates: string; state: string; dlq: string }> {
  const t = { ...from, aggregates: name(`${label}.aggregates`), state: name(`${label}.state`) };
  await admin.createTopics([{ name: t.aggregates, partitions: 2 }]);
  created.push(t.aggregates, t.state);
  return t;
}

export async function createInputs(inputs: Inputs): Promise<void> {
  await admin.createTopics([
    { name: inputs.dns, partitions: 2 },
    { name: inputs.flows, partitions: 2 },
    { name: inputs.dlq, partitions: 1 },
  ]);
  created.push(inputs.dns, inputs.flows, inputs.dlq);
}

/**
 * The inputs, the same on every call: per partition of each topic, DNS events (late ones, one malformed
 * record) and flow records, each list ending with a sentinel that moves the watermark past every window.
 */
let memo: { dns: ProduceRecord[][]; flows: ProduceRecord[][] } | null = null;
function inputRecords(): { dns: ProduceRecord[][]; flows: ProduceRecord[][] } {
  if (memo !== null) return memo;
  let seed = 5;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const out = { dns: [] as ProduceRecord[][], flows: [] as ProduceRecord[][] };
  for (let p = 0; p < 2; p++) {
    const dns: ProduceRecord[] = [];
    for (let i = 0; i < PER_PARTITION_DNS; i++) {
      let t = T0 + i * 4 + rnd() * 400;
      if (i % 301 === 0) t -= 1200; // late: revises a 1 s window
      const d = `p${p}-d${Math.floor(rnd() * rnd() * 60)}.com`;
      dns.push({ value: encode("DnsEvent", dnsEvent({ t, registered_domain: d, qname: `w${i % 9}.${d}`, src_addr: `198.18.${p}.${i % 17}`, is_response: i % 2 === 1, response_time_us: i % 2 ? 200 + Math.floor(rnd() * 9000) : null, rcode: i % 13 === 0 ? 3 : 0, node: `node-${i % 2}` })), partition: p });
      if (i === 1000) dns.push({ value: Buffer.from("not avro at all"), partition: p });
    }
    dns.push({ value: encode("DnsEvent", dnsEvent({ t: T0 + 3_600_000 })), partition: p });
    out.dns.push(dns);
    const flows: ProduceRecord[] = [];
    for (let i = 0; i < PER_PARTITION_FLOWS; i++) {
      const t = T0 + i * 10 + rnd() * 300;
      flows.push({ value: encode("FlowRecord", flowRecord({ t, sizes: [60 + (i % 40), 1500, 40 + (i % 7)], durationMs: 1 + (i % 500) * 7, src_addr: `198.18.${p}.${i % 23}`, dst_addr: `198.19.0.${i % 5}`, src_port: 1024 + i })), partition: p });
    }
    flows.push({ value: encode("FlowRecord", flowRecord({ t: T0 + 3_600_000, sizes: [100] })), partition: p });
    out.flows.push(flows);
  }
  memo = out;
  return out;
}

/**
 * Produces the inputs, or the part of each partition's list from fraction `from` to `to` (a stream
 * produced in steps: the parts of one run, in order, add up to the whole).
 */
export async function produceInputs(inputs: Inputs, from = 0, to = 1): Promise<void> {
  const producer = createProducer(kafka);
  const all = inputRecords();
  const part = (list: ProduceRecord[]): ProduceRecord[] => list.slice(Math.round(list.length * from), Math.round(list.length * to));
  for (let p = 0; p < 2; p++) {
    await producer.send(inputs.dns, part(all.dns[p]!));
    await producer.send(inputs.flows, part(all.flows[p]!));
  }
  await producer.close();
}

export type View = Map<string, WindowAggregate>;

/**
 * Everything committed to `topic` so far, highest revision per task, window and key: a fresh reader
 * each time, read until it has been idle for a second.
 */
export async function readOutput(topic: string): Promise<View> {
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
        if (prev !== undefined && a.revision < prev.revision) continue;
        view.set(k, a);
      }
      return Promise.resolve();
    },
  });
  await c.start();
  while (Date.now() - lastRecordAt < 1000) await new Promise((r) => setTimeout(r, 200));
  await c.close();
  return view;
}

export async function untilComplete(topic: string, what: string, ms: number, from: Inputs = inputs): Promise<View> {
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
export function complete(view: View, inputs: Inputs = firstInputs): boolean {
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
export function diagnose(): string {
  const finals = [...lastView.entries()].filter(([, a]) => a.dimension === "global" && a.size_ms === 10_000 && a.hop_ms === 10_000).map(([k, a]) => `${k}:${a.final}`);
  return `${lastView.size} rows; 10 s globals: ${finals.join(", ")}`;
}

export async function waitFor(what: string, f: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    assertAlive();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${diagnose()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

const live = new Set<Child>();

/** A child that exits on its own (not killed by the test) fails the test at once. */
export function assertAlive(): void {
  for (const c of live) if (c.proc.exitCode !== null) throw new Error(`aggregator child exited with ${c.proc.exitCode}`);
}

export function startInstance(topics: object, group: string, instance: string): Child {
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

export async function stop(c: Child, signal: NodeJS.Signals): Promise<void> {
  live.delete(c);
  c.proc.kill(signal);
  const code = await c.exited;
  // The child exits 3 when its aggregator stops on an error, e.g. a last commit refused after leaving the group.
  if (signal === "SIGTERM") assert.equal(code, 0, "SIGTERM closes the aggregator cleanly");
}

export function comparable(v: View, from: Inputs): Map<string, unknown> {
  const out = new Map<string, unknown>();
  // Tasks are named by input topic and partition; runs over copies of the inputs compare by stream.
  const stream = (s: string): string => s.replace(`${from.dns}/`, "dns/").replace(`${from.flows}/`, "flows/");
  for (const [k, a] of v) {
    // Revision numbers depend on when batches happened to close windows; the figures must not. So does
    // `final` of the rows that are not re-sent when their window becomes final (all but global and node):
    // true when their last emission came after end + lateness, which a stream produced in steps changes.
    const resent = a.dimension === "global" || a.dimension === "node";
    out.set(stream(k), { ...a, final: resent ? a.final : false, aggregator_instance: stream(a.aggregator_instance), revision: 0, late_count: 0, measures: a.measures.map((m) => ({ ...m, mean: Number(m.mean.toPrecision(12)), variance: Number(m.variance.toPrecision(9)) })) });
  }
  return out;
}

export function assertSameAggregates(actual: View, expected: View, label: string, from: Inputs = inputs): void {
  const a = comparable(actual, from);
  const e = comparable(expected, inputs);
  const missing = [...e.keys()].filter((k) => !a.has(k));
  const extra = [...a.keys()].filter((k) => !e.has(k));
  assert.deepEqual({ missing: missing.slice(0, 5), extra: extra.slice(0, 5) }, { missing: [], extra: [] }, `${label}: keys differ`);
  for (const [k, v] of e) assert.deepEqual(a.get(k), v, `${label}: ${k}`);
}

