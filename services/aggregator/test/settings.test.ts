import { test } from "node:test";
import assert from "node:assert/strict";
import { aggregatorSettings } from "../src/settings.js";

const base = { maxDomainsTracked: 1000, concurrentFlowsLimit: 1000 };

test("the config's window sizes become tumbling windows with the dimensions kept at each size", () => {
  const s = aggregatorSettings({ ...base, windowSizes: ["1s", "1m", "1h", "24h"] });
  assert.deepEqual(s.windows.map((w) => w.name), ["1s", "1m", "1h", "24h", "1m/10s"]);
  assert.equal(s.paneMs, 1000);
  const dims = Object.fromEntries(s.windows.map((w) => [w.name, w.dimensions]));
  assert.ok(dims["1s"]?.includes("qname") && !dims["1m"]?.includes("qname"));
  assert.ok(dims["1m"]?.includes("flow") && !dims["1h"]?.includes("flow"));
  assert.ok(dims["1h"]?.includes("registered_domain") && !dims["24h"]?.includes("registered_domain"));
  assert.deepEqual(dims["1m/10s"], ["global", "node"]);
  assert.equal(s.keysPerEmission(s.windows[0]!), 100);
  assert.equal(s.keysPerEmission(s.windows[1]!), Infinity);
  assert.equal(s.linkCapacityBps, null);
});

test("milliseconds are accepted, and bad values name the key", () => {
  const s = aggregatorSettings({ ...base, windowSizes: [1000, 60_000], hopping: [], targetThroughputGbps: 40 });
  assert.deepEqual(s.windows.map((w) => w.name), ["1s", "1m"]);
  assert.equal(s.linkCapacityBps, 40e9);
  assert.throws(() => aggregatorSettings({ ...base, windowSizes: [] }), /window_sizes/);
  assert.throws(() => aggregatorSettings({ ...base, windowSizes: ["1s", "1s"] }), /configured twice/);
  assert.throws(() => aggregatorSettings({ ...base, maxDomainsTracked: 0, windowSizes: ["1s"] }), /max_domains_tracked/);
});
