// Counters fed from totals kept elsewhere add what each source grew by since the last scrape, sum several
// sources under their labels, survive a source that was reset, and take a last reading when a source stops.
import assert from "node:assert/strict";
import { test } from "node:test";
import { register } from "prom-client";
import { cumulativeCounter } from "../src/cumulative-metrics.js";

async function value(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await register.getSingleMetric(name)!.get();
  return m.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

test("growth of each source is added per scrape, by labels, and a stopped source is read a last time", async () => {
  const c = cumulativeCounter("stoq_test_cumulative_total", "test", ["interface"]);
  let a = 5;
  let b = 7;
  const stopA = c.track(() => [[{ interface: "a" }, a]]);
  c.track(() => [[{ interface: "b" }, b]]);
  await register.metrics();
  a = 8;
  b = 9;
  assert.equal(await value("stoq_test_cumulative_total", { interface: "a" }), 8);
  assert.equal(await value("stoq_test_cumulative_total", { interface: "b" }), 9);
  a = 2; // reset (a reloaded object): its 2 are new
  assert.equal(await value("stoq_test_cumulative_total", { interface: "a" }), 10);
  a = 4;
  stopA();
  a = 100;
  assert.equal(await value("stoq_test_cumulative_total", { interface: "a" }), 12, "read at stop, not after");
  c.track(() => [[{ interface: "c" }, 0]]);
  assert.equal(await value("stoq_test_cumulative_total", { interface: "c" }), 0, "a zero total is exported as 0");
});
