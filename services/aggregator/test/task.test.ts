import { test } from "node:test";
import assert from "node:assert/strict";
import type { DnsEvent, WindowAggregate } from "../../../lib/src/avro.js";
import { Task } from "../src/task.js";
import { createKeyTables } from "../src/bounds.js";
import { aggregatorSettings } from "../src/settings.js";
import type { WindowEmission } from "../src/partition-aggregation.js";
import { dnsEvent } from "./records.js";

interface InputRecord<R> {
  readonly offset: number;
  readonly value: R;
}

const ingest = (task: Task<number>, slice: readonly InputRecord<DnsEvent>[], batch: number): ReturnType<Task<number>["ingest"]> =>
  task.ingest(
    slice.map((r) => r.offset),
    (i) => slice[i]!.value,
    batch,
  );

const settings = aggregatorSettings({ windowSizes: ["1s", "10s"], maxDomainsTracked: 1000, concurrentFlowsLimit: 1000, allowedLatenessMs: 2000, outOfOrdernessMs: 500, keysPerShortWindow: 1000, hopping: [{ size: "10s", hop: "5s", dimensions: ["global", "registered_domain"] }] });

function stream(n: number): InputRecord<DnsEvent>[] {
  let seed = 99;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const out: InputRecord<DnsEvent>[] = [];
  for (let i = 0; i < n; i++) {
    let t = 1_000_000 + i * 10 + rnd() * 800;
    if (i % 97 === 0) t -= 2500; // late, within the allowed lateness of some windows
    if (i % 199 === 0) t -= 60_000; // far too late: dropped and counted in every run
    const d = `d${Math.floor(rnd() * rnd() * 40)}.com`;
    out.push({ offset: i, value: dnsEvent({ t, registered_domain: d, qname: `q${i % 7}.${d}`, src_addr: `198.18.0.${i % 13}`, is_response: i % 2 === 1, response_time_us: i % 2 === 1 ? 100 + Math.floor(rnd() * 10_000) : null, rcode: i % 11 === 0 ? 3 : 0 }) });
  }
  return out;
}

type View = Map<string, WindowAggregate>;

function apply(view: View, es: readonly WindowEmission[]): void {
  for (const e of es) {
    for (const r of e.rows) {
      const k = `${e.spec.name}|${r.window_start_ms}|${r.dimension}|${r.key}`;
      const prev = view.get(k);
      if (prev === undefined || r.revision >= prev.revision) view.set(k, r);
    }
  }
}

function comparable(r: WindowAggregate): unknown {
  return { count: r.count, measures: r.measures.map((m) => ({ ...m, mean: Number(m.mean.toFixed(6)), variance: Number(m.variance.toFixed(3)) })), distinct: r.distinct, top_k: r.top_k, final: r.final };
}

function run(records: InputRecord<DnsEvent>[], batch: number, crashes: number[]): { view: View; emitted: number; skipped: number } {
  const view: View = new Map();
  let committedState = new Map<string, Buffer>();
  let committedOffset = 0;
  let task = new Task<number>("t/0", "dns", settings, createKeyTables(settings.bounds));
  let pos = 0;
  let batches = 0;
  let emitted = 0;
  let skipped = 0;
  const crashAt = new Set(crashes);
  while (pos < records.length) {
    const slice = records.slice(pos, pos + batch);
    const lastOffset = slice.at(-1)?.offset ?? 0;
    const es = ingest(task, slice, lastOffset);
    pos += slice.length;
    batches++;
    if (crashAt.has(batches)) {
      // kill -9 before the checkpoint: this batch's outputs and state are lost; restart from the commit.
      skipped += task.skippedOnReplay;
      task.dispose();
      task = new Task<number>("t/0", "dns", settings, createKeyTables(settings.bounds));
      task.restore(committedState);
      pos = committedOffset;
      continue;
    }
    const cp = task.checkpoint();
    const next = new Map(committedState);
    for (const s of cp.state) {
      if (s.value === null) next.delete(s.key);
      else next.set(s.key, s.value);
    }
    committedState = next;
    if (cp.commitAfter !== null) committedOffset = cp.commitAfter + 1;
    apply(view, es);
    emitted += es.length;
  }
  const tail = task.advanceTo(Number.MAX_SAFE_INTEGER);
  apply(view, tail);
  return { view, emitted: emitted + tail.length, skipped: skipped + task.skippedOnReplay };
}

test("crashes before checkpoints lose nothing and count nothing twice: the final view equals an uninterrupted run", () => {
  const records = stream(6000);
  const reference = run(records, 64, []);
  const crashed = run(records, 64, [3, 17, 18, 40, 41, 42, 77]);
  assert.ok(crashed.skipped > 0, "replay skipped records already in the changelog");
  assert.equal(crashed.view.size, reference.view.size);
  for (const [k, r] of reference.view) {
    const c = crashed.view.get(k);
    assert.ok(c !== undefined, `missing ${k}`);
    assert.deepEqual(comparable(c), comparable(r), k);
  }
  const total = [...reference.view.values()].filter((r) => r.dimension === "global" && r.size_ms === 1000).reduce((a, r) => a + r.count, 0);
  const dropped = records.filter((_, i) => i % 199 === 0).length;
  assert.ok(total <= 6000 - dropped && total > 5000, `1s windows hold ${total}`);
});

test("the committed offset never passes a record still in an open pane", () => {
  const records = stream(2000);
  const task = new Task<number>("t/0", "dns", settings, createKeyTables(settings.bounds));
  let committed = 0;
  for (let pos = 0; pos < records.length; pos += 50) {
    const slice = records.slice(pos, pos + 50);
    ingest(task, slice, slice.at(-1)?.offset ?? 0);
    const cp = task.checkpoint();
    if (cp.commitAfter !== null) {
      assert.ok(cp.commitAfter + 1 >= committed, "commits only move forward");
      committed = cp.commitAfter + 1;
    }
    // Every record at or after the commit point whose pane is still open must be re-readable.
    for (let i = 0; i < committed; i++) {
      const t = (records[i]?.value.event_time_us ?? 0) / 1000;
      assert.ok(task.agg.paneEnd(t) <= task.watermark, `record ${i} is in an open pane but before the commit ${committed}`);
    }
  }
  assert.ok(committed > 1000);
});
