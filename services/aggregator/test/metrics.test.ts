import { test } from "node:test";
import assert from "node:assert/strict";
import { register } from "prom-client";
import { aggregatorMetrics } from "../src/metrics.js";

// Every label must come from a set the config bounds; a key (domain, address) as a label would make
// one series per key: those belong in Redis.
const BOUNDED = new Set(["stream", "window", "kind", "dimension"]);

test("aggregator metrics use only bounded labels", async () => {
  assert.ok(Object.keys(aggregatorMetrics).length >= 10);
  for (const [name, metric] of Object.entries(aggregatorMetrics)) {
    const labelNames: readonly string[] = (metric as unknown as { labelNames: readonly string[] }).labelNames;
    assert.notEqual(labelNames, undefined, name);
    for (const l of labelNames) assert.ok(BOUNDED.has(l), `${name} has unbounded label ${l}`);
  }
  aggregatorMetrics.keyOverflow.inc({ dimension: "registered_domain" });
  const text = await register.getSingleMetricAsString("stoq_aggregator_key_overflow_total");
  assert.match(text, /stoq_aggregator_key_overflow_total\{dimension="registered_domain"\} 1/);
});
