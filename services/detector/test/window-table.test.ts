// WindowTable keeps the DNS and the flow stream apart by the rows' stream field, and still places rows
// written before it (WindowAggregate v1) by their indicator measure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WindowTable } from "../src/window-table.js";
import { row } from "./aggregates.js";

test("a DNS row and a flow row of one key and window are two series, each with its own total", () => {
  const t = new WindowTable<null>({ closeDelayMs: 0, maxSeries: 10, initState: () => null });
  const at = { start: 0, dimension: "source" as const, key: "198.18.0.7" };
  const dns = t.ingest(row({ ...at, count: 10, stream: "dns", task: "dns-0" })).window;
  // The field decides even when the measures say nothing (no indicator at all).
  const flow = t.ingest({ ...row({ ...at, count: 3, stream: "flow", task: "flow-0" }), measures: [] }).window;
  // A v1 flow row: no stream, indicator "rst".
  const old = t.ingest({ ...row({ ...at, count: 2, stream: "flow", task: "flow-1" }), stream: null }).window;
  assert.equal(t.size, 2);
  assert.equal(dns?.series.stream, "dns");
  assert.equal(dns?.total, 10);
  assert.equal(flow?.series.stream, "flow");
  assert.equal(old?.series, flow?.series);
  assert.equal(flow?.total, 5);
});
