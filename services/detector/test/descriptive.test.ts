// Tests of descriptive statistics against values computed by hand and by definition.
import { test } from "node:test";
import assert from "node:assert/strict";
import { describe, mad, median, quantileSorted, shannonEntropy } from "../src/descriptive.js";

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} vs ${b}`);

test("moments, quantiles and MAD of a small sample", () => {
  const s = describe([2, 4, 4, 4, 5, 5, 7, 9]);
  assert.equal(s.count, 8);
  assert.equal(s.mean, 5);
  assert.equal(s.variance, 4);
  assert.equal(s.stddev, 2);
  assert.equal(s.min, 2);
  assert.equal(s.max, 9);
  assert.equal(s.median, 4.5);
  // |x - 4.5| sorted: .5 .5 .5 .5 .5 2.5 2.5 4.5
  assert.equal(s.mad, 0.5);
  close(s.p25, 4);
  close(s.p75, 5.5);
  close(s.coefficientOfVariation!, 0.4);
});

test("skewness and kurtosis have the right sign and size", () => {
  const sym = describe([1, 2, 3, 4, 5]);
  close(sym.skewness, 0);
  close(sym.kurtosis, -1.3);
  assert.ok(describe([1, 1, 1, 1, 10]).skewness > 1);
});

test("quantiles interpolate linearly (type 7)", () => {
  close(quantileSorted([10, 20, 30, 40], 0.5), 25);
  close(quantileSorted([10, 20, 30, 40], 0.9), 37);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(mad([1, 1, 2, 2, 4, 6, 9]), 1);
});

test("an empty sample gives NaN, not a throw", () => {
  assert.ok(Number.isNaN(describe([]).mean));
});

test("entropy in bits per character", () => {
  assert.equal(shannonEntropy("aaaa"), 0);
  assert.equal(shannonEntropy("abab"), 1);
  close(shannonEntropy("abcdefgh"), 3);
});
