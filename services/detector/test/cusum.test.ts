// Tests of CUSUM change points: a 1.5-sigma step no single value makes an outlier is found near where it
// starts; a stationary series of 2000 normal values raises few false alarms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { changePoints, Cusum } from "../src/cusum.js";

/** Deterministic normal values (Box-Muller over a linear congruential generator). */
function normals(n: number, seed = 42): number[] {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) + 1) / (2 ** 31 + 1);
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

test("a 1.5-sigma step is detected within a few points of its start, none before it", () => {
  const noise = normals(200, 7);
  const xs = noise.map((e, i) => 100 + 10 * e + (i >= 120 ? 15 : 0));
  assert.ok(Math.max(...xs.slice(120).map((x) => (x - 100) / 10)) < 4.5, "no single point is a 4.5-sigma outlier");
  const cps = changePoints(xs, { reference: 60 });
  assert.ok(cps.length >= 1);
  const first = cps[0]!;
  assert.equal(first.direction, "up");
  assert.ok(first.index >= 110 && first.index <= 130, `change at ${first.index}`);
  assert.ok(first.alarmIndex < 140, `alarm at ${first.alarmIndex}`);
  assert.ok(first.shift > 8 && first.shift < 25, `shift ${first.shift}`);
});

test("a downward step is reported as down", () => {
  const xs = normals(100, 3).map((e, i) => 50 + e + (i >= 60 ? -4 : 0));
  const cps = changePoints(xs, { reference: 30 });
  assert.equal(cps[0]?.direction, "down");
});

test("in control, false alarms are rare (h = 5: about one per ~900 points)", () => {
  const c = new Cusum(0, 1);
  let alarms = 0;
  for (const x of normals(2000, 11)) if (c.update(x) !== null) alarms++;
  assert.ok(alarms <= 6, `${alarms} false alarms`);
});

test("a non-positive sigma is refused", () => {
  assert.throws(() => new Cusum(0, 0), RangeError);
});
