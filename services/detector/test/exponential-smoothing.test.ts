// Tests of Holt and Holt-Winters: exact on noiseless trend and season, intervals that widen with the
// horizon and cover about 95 % of held-out noisy values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fitSmoothing, forecast, smooth } from "../src/exponential-smoothing.js";

function normals(n: number, seed = 42): number[] {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) + 1) / (2 ** 31 + 1);
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

test("Holt on a straight line forecasts the line exactly", () => {
  const xs = Array.from({ length: 30 }, (_, i) => 5 + 2 * i);
  const fit = smooth(xs, { alpha: 0.5, beta: 0.3, gamma: 0, season: 0 });
  const fc = forecast(fit, 3);
  assert.deepEqual(fc.map((f) => Math.round(f.mean * 1e9) / 1e9), [65, 67, 69]);
  assert.equal(fc[0]!.upper - fc[0]!.lower, 0);
});

test("Holt-Winters on a noiseless daily cycle forecasts the next day", () => {
  const day = (h: number) => 100 + 50 * Math.sin((2 * Math.PI * h) / 24);
  const xs = Array.from({ length: 24 * 5 }, (_, h) => day(h));
  const fit = fitSmoothing(xs, 24);
  const fc = forecast(fit, 24);
  for (const f of fc) assert.ok(Math.abs(f.mean - day(24 * 5 + f.step - 1)) < 1.5, `step ${f.step}: ${f.mean} vs ${day(24 * 5 + f.step - 1)}`);
});

test("95 % intervals widen with the horizon and cover about 95 % of new noisy values", () => {
  let covered = 0;
  let total = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const e = normals(130, seed);
    const xs = e.map((x, i) => 1000 + 3 * i + 20 * x);
    const fit = fitSmoothing(xs.slice(0, 120), 0);
    const fc = forecast(fit, 10);
    assert.ok(fc[9]!.upper - fc[9]!.lower > fc[0]!.upper - fc[0]!.lower);
    for (const f of fc) {
      total++;
      const y = xs[119 + f.step]!;
      if (y >= f.lower && y <= f.upper) covered++;
    }
  }
  const rate = covered / total;
  assert.ok(rate > 0.88 && rate <= 1, `coverage ${rate}`);
});

test("too few values for a season is an error naming the need", () => {
  assert.throws(() => smooth([1, 2, 3], { alpha: 0.5, beta: 0.1, gamma: 0.1, season: 24 }), /needs 48 values/);
});
