// Exactly once and scale-out against the real broker: an aggregator killed with SIGKILL mid-stream and
// restarted, and two instances sharing one group, each publish the same final aggregates as one
// uninterrupted instance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DNS_FIELDS, FLOW_FIELDS } from "../src/aggregator.js";
import { createKeyTables } from "../src/bounds.js";
import { aggregatorSettings } from "../src/settings.js";
import { Task } from "../src/task.js";
import {
  admin,
  assertSameAggregates,
  complete,
  createInputs,
  inputs,
  name,
  PER_PARTITION_DNS,
  produceInputs,
  readOutput,
  startInstance,
  stop,
  T0,
  topicsFor,
  untilComplete,
  waitFor,
  type View,
} from "./aggregator-harness.js";
import { dnsEvent, flowRecord } from "./records.js";

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
