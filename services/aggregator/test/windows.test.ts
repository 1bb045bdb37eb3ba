import { test } from "node:test";
import assert from "node:assert/strict";
import { WatermarkTracker, formatDuration, paneSizeMs, parseDuration, windowSpec, windowStartsFor } from "../src/windows.js";

test("durations parse in the config's units and print back the same", () => {
  assert.equal(parseDuration("1s"), 1000);
  assert.equal(parseDuration("1m"), 60_000);
  assert.equal(parseDuration("24h"), 86_400_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(formatDuration(86_400_000), "24h");
  assert.equal(formatDuration(90_000), "90s");
  for (const bad of ["", "1", "0s", "-1s", "1.5s", "1w"]) assert.throws(() => parseDuration(bad), /window duration/);
});

test("window specs refuse a hop that does not divide the size", () => {
  assert.throws(() => windowSpec(60_000, 7000, ["global"]), /hop must divide/);
  assert.throws(() => windowSpec(1000, 2000, ["global"]));
  assert.equal(windowSpec(60_000, 10_000, ["global"]).name, "1m/10s");
  assert.equal(windowSpec(60_000, 60_000, ["global"]).name, "1m");
});

test("a timestamp belongs to exactly the windows whose [start, end) contain it", () => {
  const tumbling = windowSpec(1000, 1000, ["global"]);
  assert.deepEqual(windowStartsFor(tumbling, 0), [0]);
  assert.deepEqual(windowStartsFor(tumbling, 999.9), [0]);
  assert.deepEqual(windowStartsFor(tumbling, 1000), [1000]);
  assert.deepEqual(windowStartsFor(tumbling, -1), [-1000]);
  const hopping = windowSpec(3000, 1000, ["global"]);
  assert.deepEqual(windowStartsFor(hopping, 2500), [0, 1000, 2000]);
  assert.deepEqual(windowStartsFor(hopping, 3000), [1000, 2000, 3000]);
  for (const t of [0, 1, 999, 1000, 2999, 3000, 12_345]) {
    for (const s of windowStartsFor(hopping, t)) assert.ok(s <= t && t < s + 3000);
    assert.equal(windowStartsFor(hopping, t).length, 3);
  }
});

test("the pane is the gcd of every size and hop", () => {
  assert.equal(paneSizeMs([windowSpec(1000, 1000, ["global"]), windowSpec(60_000, 60_000, ["global"])]), 1000);
  assert.equal(paneSizeMs([windowSpec(60_000, 60_000, ["global"]), windowSpec(60_000, 15_000, ["global"]), windowSpec(3_600_000, 3_600_000, ["global"])]), 15_000);
});

test("the watermark is max event time minus out-of-orderness, per partition, then the minimum", () => {
  const w = new WatermarkTracker(500, 10_000);
  assert.equal(w.watermark(0), -Infinity);
  w.observe(0, 5000, 0);
  w.observe(0, 4000, 0); // out of order: does not move the maximum back
  w.observe(1, 2000, 0);
  assert.equal(w.partitionWatermark(0), 4500);
  assert.equal(w.partitionWatermark(1), 1500);
  assert.equal(w.watermark(0), 1500);
  assert.equal(w.effectiveWatermark(0, 0), 4500);
});

test("an idle partition stops holding the watermark back and follows the others", () => {
  const w = new WatermarkTracker(0, 1000);
  w.observe(0, 10_000, 0);
  w.observe(1, 2000, 0);
  w.observe(0, 20_000, 5000);
  assert.equal(w.watermark(5000), 20_000, "partition 1 idle for 5 s");
  assert.equal(w.effectiveWatermark(1, 5000), 20_000);
  w.forget(0);
  assert.equal(w.watermark(5000), 2000, "only idle partitions left: the most advanced stands for all");
});
