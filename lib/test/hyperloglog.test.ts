import { test } from "node:test";
import assert from "node:assert/strict";
import { HyperLogLog } from "../src/hyperloglog.js";
import { hashString32 } from "../src/hash.js";

test("estimates stay within 3 standard errors of the exact count", () => {
  for (const n of [10, 1000, 50_000, 400_000]) {
    const h = new HyperLogLog(12);
    for (let i = 0; i < n; i++) {
      h.addHash(hashString32(`d${i}.example.com`));
      h.addHash(hashString32(`d${i}.example.com`)); // duplicates must not count
    }
    const rel = Math.abs(h.estimate() - n) / n;
    assert.ok(rel < 3 * h.standardError, `n=${n} estimate ${h.estimate()} rel ${rel}`);
  }
});

test("the merge of two sketches equals the sketch of the union", () => {
  const a = new HyperLogLog(10);
  const b = new HyperLogLog(10);
  const u = new HyperLogLog(10);
  for (let i = 0; i < 30_000; i++) {
    const x = hashString32(`k${i}`);
    (i % 3 === 0 ? a : b).addHash(x);
    if (i % 5 === 0) a.addHash(x); // overlap
    u.addHash(x);
  }
  a.merge(b);
  assert.deepEqual(a.registers, u.registers);
  assert.ok(Math.abs(a.estimate() - 30_000) / 30_000 < 3 * a.standardError);
});

test("empty sketch estimates zero; wrong precision and register count are refused", () => {
  assert.equal(new HyperLogLog(8).estimate(), 0);
  assert.throws(() => new HyperLogLog(3));
  assert.throws(() => new HyperLogLog(8, new Uint8Array(10)));
  assert.throws(() => new HyperLogLog(8).merge(new HyperLogLog(9)));
});
