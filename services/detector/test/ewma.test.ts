// Tests of the EWMA baseline: the running-mean start, the alpha weighting afterwards, and the z-score floor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { countVarianceFloor, EwmaBaseline } from "../src/ewma.js";

test("while n < 1/alpha the baseline is the plain mean and population variance", () => {
  const b = new EwmaBaseline(0.01);
  const xs = [4, 8, 15, 16, 23, 42];
  for (const x of xs) b.update(x);
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
  assert.ok(Math.abs(b.mean - mean) < 1e-12);
  assert.ok(Math.abs(b.variance - variance) < 1e-9, `${b.variance} vs ${variance}`);
});

test("after 1/alpha values each new value has weight alpha", () => {
  const b = new EwmaBaseline(0.5);
  b.update(10);
  b.update(10);
  b.update(20); // n=3: weight max(0.5, 1/3) = 0.5
  assert.equal(b.mean, 15);
  assert.equal(b.variance, 0.5 * (0 + 10 * 5));
});

test("a level shift is absorbed at the learning rate", () => {
  const b = new EwmaBaseline(0.1);
  for (let i = 0; i < 100; i++) b.update(100);
  for (let i = 0; i < 10; i++) b.update(200);
  // 100 + 100 * (1 - 0.9^10)
  assert.ok(Math.abs(b.mean - (100 + 100 * (1 - 0.9 ** 10))) < 1e-9);
});

test("the variance floor keeps a flat series from calling any change infinite", () => {
  const b = new EwmaBaseline(0.01);
  for (let i = 0; i < 50; i++) b.update(100);
  assert.equal(b.variance, 0);
  const d = b.deviation(130, countVarianceFloor(b.mean));
  assert.equal(d.stddev, 10);
  assert.equal(d.z, 3);
  assert.equal(countVarianceFloor(0.2), 1);
});

test("a learning rate outside (0, 1] is refused", () => {
  assert.throws(() => new EwmaBaseline(0), RangeError);
  assert.throws(() => new EwmaBaseline(1.5), RangeError);
});
