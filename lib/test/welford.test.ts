import { test } from "node:test";
import assert from "node:assert/strict";
import { addSample, emptyMoments, mergeMoments, momentsFromSums, sampleVariance, variance } from "../src/welford.js";

function exact(xs: number[]): { mean: number; varPop: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { mean, varPop: xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length };
}

test("running moments match the two-pass mean and variance", () => {
  const xs = Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 100 + 1e6);
  const m = emptyMoments();
  for (const x of xs) addSample(m, x);
  const e = exact(xs);
  assert.equal(m.n, 1000);
  assert.ok(Math.abs(m.mean - e.mean) < 1e-6);
  assert.ok(Math.abs(variance(m) - e.varPop) / e.varPop < 1e-9);
  assert.ok(Math.abs(sampleVariance(m) - (e.varPop * 1000) / 999) / e.varPop < 1e-9);
  assert.equal(m.min, Math.min(...xs));
  assert.equal(m.max, Math.max(...xs));
});

test("merging any split equals the whole sample", () => {
  const xs = Array.from({ length: 777 }, (_, i) => ((i * 7919) % 1013) / 3);
  const whole = emptyMoments();
  for (const x of xs) addSample(whole, x);
  for (const cut of [0, 1, 100, 776, 777]) {
    const a = emptyMoments();
    const b = emptyMoments();
    xs.forEach((x, i) => addSample(i < cut ? a : b, x));
    mergeMoments(a, b);
    assert.equal(a.n, whole.n);
    assert.ok(Math.abs(a.mean - whole.mean) < 1e-9, `cut ${cut}`);
    assert.ok(Math.abs(a.m2 - whole.m2) / whole.m2 < 1e-9, `cut ${cut}`);
    assert.equal(a.min, whole.min);
    assert.equal(a.max, whole.max);
  }
});

test("weighted samples equal repeated samples", () => {
  const w = emptyMoments();
  addSample(w, 10, 3);
  addSample(w, 20, 1);
  const r = emptyMoments();
  for (const x of [10, 10, 10, 20]) addSample(r, x);
  assert.ok(Math.abs(w.mean - r.mean) < 1e-12);
  assert.ok(Math.abs(w.m2 - r.m2) < 1e-9);
});

test("moments from sums equal moments from samples", () => {
  const xs = [60, 1500, 1500, 40, 576];
  const s = emptyMoments();
  for (const x of xs) addSample(s, x);
  const f = momentsFromSums(xs.length, xs.reduce((a, b) => a + b, 0), xs.reduce((a, b) => a + b * b, 0), 40, 1500);
  assert.ok(Math.abs(f.mean - s.mean) < 1e-9);
  assert.ok(Math.abs(f.m2 - s.m2) < 1e-6);
  assert.equal(momentsFromSums(0, 0, 0, 0, 0).n, 0);
});
