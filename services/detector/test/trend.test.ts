// Tests of the least-squares trend, its prediction interval, the t quantile and the seasonality test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { detectSeasonality, linearTrend, predictLinear, seasonLength, tQuantile } from "../src/trend.js";

test("a line is fitted exactly; the interval has zero width", () => {
  const t = linearTrend([0, 1, 2, 3], [1, 3, 5, 7]);
  assert.equal(t.slope, 2);
  assert.equal(t.intercept, 1);
  assert.equal(t.r2, 1);
  const p = predictLinear(t, 10);
  assert.equal(p.mean, 21);
  assert.equal(p.upper, p.lower);
});

test("the interval is wider far from the data than at its centre", () => {
  const xs = Array.from({ length: 20 }, (_, i) => i);
  const ys = xs.map((x, i) => 3 * x + (i % 2 === 0 ? 1 : -1));
  const t = linearTrend(xs, ys);
  const mid = predictLinear(t, 9.5);
  const far = predictLinear(t, 60);
  assert.ok(far.upper - far.lower > mid.upper - mid.lower);
});

test("t quantiles match the table to 0.01", () => {
  assert.ok(Math.abs(tQuantile(0.95, 5) - 2.571) < 0.02);
  assert.ok(Math.abs(tQuantile(0.95, 10) - 2.228) < 0.01);
  assert.ok(Math.abs(tQuantile(0.95, 30) - 2.042) < 0.01);
  assert.equal(tQuantile(0.95, Infinity), 1.96);
});

test("a daily cycle in hourly windows is seasonal; noise is not", () => {
  assert.equal(seasonLength(3_600_000), 24);
  assert.equal(seasonLength(86_400_000), 7);
  const cycle = Array.from({ length: 96 }, (_, h) => 100 + 40 * Math.sin((2 * Math.PI * h) / 24));
  assert.equal(detectSeasonality(cycle, 24).seasonal, true);
  let s = 9;
  const noise = Array.from({ length: 96 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 100);
  assert.equal(detectSeasonality(noise, 24).seasonal, false);
  assert.equal(detectSeasonality(cycle.slice(0, 30), 24).seasonal, false);
});
