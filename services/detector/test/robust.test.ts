// Tests of the median/MAD detector: it finds a burst a mean-based z-score misses, and handles MAD = 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { describe } from "../src/descriptive.js";
import { robustOutliers, robustZ } from "../src/robust.js";

test("two large bursts mask each other for the mean/stddev z-score but not for the robust one", () => {
  const xs = [10, 11, 9, 10, 12, 10, 11, 9, 10, 500, 10, 11, 9, 500, 10];
  const s = describe(xs);
  const classicZ = (500 - s.mean) / s.stddev;
  assert.ok(classicZ < 3, `classic z ${classicZ}`);
  const found = robustOutliers(xs, 3.5);
  assert.deepEqual(found.map((f) => f.index), [9, 13]);
  assert.ok(found[0]!.robustZ > 100);
});

test("a modified z-score is 0.6745 (x - median) / MAD", () => {
  const h = [1, 2, 3, 4, 5, 6, 7]; // median 4, MAD 2
  assert.equal(robustZ(h, 8), (0.6745 * 4) / 2);
});

test("MAD = 0 falls back to the mean absolute deviation; a constant history makes any change infinite", () => {
  const h = [5, 5, 5, 5, 5, 6, 4];
  assert.ok(Number.isFinite(robustZ(h, 9)) && robustZ(h, 9) > 3);
  assert.equal(robustZ([5, 5, 5], 6), Infinity);
  assert.equal(robustZ([5, 5, 5], 5), 0);
});
