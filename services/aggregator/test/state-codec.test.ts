import { test } from "node:test";
import assert from "node:assert/strict";
import { createKeyTables } from "../src/bounds.js";
import { decodePane, decodeProgress, encodePane, encodeProgress } from "../src/state-codec.js";
import { PartitionAggregation, type WindowEmission } from "../src/partition-aggregation.js";
import { aggregatorSettings } from "../src/settings.js";
import type { WindowState } from "../src/window-state.js";
import { dnsEvent, flowRecord } from "./records.js";

const settings = aggregatorSettings({ windowSizes: ["1s"], maxDomainsTracked: 2, concurrentFlowsLimit: 100, keysPerShortWindow: 100, hopping: [] });

function closedPane(stream: "dns" | "flow", fill: (a: PartitionAggregation) => void): { pane: Buffer[]; direct: WindowEmission } {
  const tables = createKeyTables(settings.bounds);
  const a = new PartitionAggregation("c/0", stream, settings, tables);
  fill(a);
  let pane: Buffer[] = [];
  const out: WindowEmission[] = [];
  a.advance(1000, (e) => out.push(e), (p: WindowState) => (pane = encodePane(p, tables)));
  assert.ok(pane.length > 0 && out[0] !== undefined);
  return { pane, direct: out[0] };
}

function rebuilt(stream: "dns" | "flow", pane: Buffer[]): WindowEmission {
  const tables = createKeyTables(settings.bounds);
  const b = new PartitionAggregation("c/0", stream, settings, tables);
  // Chunks in reverse order: the rebuild must not depend on it.
  b.restore(0, [...pane].reverse().map((c) => decodePane(c, stream, tables)), new Map());
  const out: WindowEmission[] = [];
  b.advance(1000, (e) => out.push(e));
  assert.ok(out[0] !== undefined);
  return out[0];
}

test("a DNS pane survives encoding: keys, overflow bucket, heavy hitters, sketches and distinct counts", () => {
  const { pane, direct } = closedPane("dns", (a) => {
    for (let i = 0; i < 300; i++) a.ingestDns(dnsEvent({ t: i, registered_domain: `d${i % 5}.com`, qname: `n${i}.d${i % 5}.com`, is_response: true, response_time_us: 50 + i * 3, rcode: i % 4 === 0 ? 3 : 0, node: i % 2 ? "n1" : "\u00e9-node" }));
  });
  const again = rebuilt("dns", pane);
  assert.deepEqual(again.rows, direct.rows);
  assert.deepEqual(again.topK, direct.topK);
  assert.ok(direct.rows.some((r) => r.key === "(other)"), "the bound of 2 domains made an overflow bucket");
});

test("a pane with more keys than a chunk is split and rebuilt exactly", () => {
  const big = aggregatorSettings({ windowSizes: ["1s"], maxDomainsTracked: 100_000, concurrentFlowsLimit: 100, keysPerShortWindow: 100_000, hopping: [] });
  const tables = createKeyTables(big.bounds);
  const a = new PartitionAggregation("c/0", "dns", big, tables);
  for (let i = 0; i < 10_000; i++) a.ingestDns(dnsEvent({ t: i / 20, registered_domain: `k${i}.com`, qname: `k${i}.com` }));
  let chunks: Buffer[] = [];
  const out: WindowEmission[] = [];
  a.advance(1000, (e) => out.push(e), (p: WindowState) => (chunks = encodePane(p, tables)));
  assert.ok(chunks.length >= 5, `${chunks.length} chunks`);
  for (const c of chunks) assert.ok(c.length < 1_000_000);
  const t2 = createKeyTables(big.bounds);
  const b = new PartitionAggregation("c/0", "dns", big, t2);
  b.restore(0, chunks.map((c) => decodePane(c, "dns", t2)), new Map());
  const again: WindowEmission[] = [];
  b.advance(1000, (e) => again.push(e));
  assert.deepEqual(again[0]?.rows, out[0]?.rows);
});

test("a flow pane survives encoding with its FlowStatistics", () => {
  const { pane, direct } = closedPane("flow", (a) => {
    for (let i = 0; i < 50; i++) a.ingestFlow(flowRecord({ t: 10 + i, sizes: [60 + i, 1500, 40 * (i % 3) + 1], durationMs: i * 40, src_port: i }));
  });
  assert.deepEqual(rebuilt("flow", pane).rows, direct.rows);
});

test("progress round-trips", () => {
  const p = { watermark: 12.5, max_event_time: 13, next_offset: 77, late_since_emit: { "1s": 2 }, late_total: 3, records_total: 99, revisions: { "1s@0": 1 }, next_delta_seq: 4 };
  assert.deepEqual({ ...decodeProgress(encodeProgress(p)) }, p);
});
