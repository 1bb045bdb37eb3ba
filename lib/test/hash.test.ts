import { test } from "node:test";
import assert from "node:assert/strict";
import { fmix32, hashString32 } from "../src/hash.js";

test("hash is deterministic, unsigned and spreads similar keys", () => {
  assert.equal(hashString32("example.com"), hashString32("example.com"));
  assert.notEqual(hashString32("a1.example.com"), hashString32("a2.example.com"));
  assert.ok(hashString32("x") >= 0 && hashString32("x") < 2 ** 32);
  // Each output bit is set for about half of sequential keys (avalanche).
  const ones = new Array<number>(32).fill(0);
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const h = hashString32(`host-${i}.example`);
    for (let b = 0; b < 32; b++) if ((h >>> b) & 1) ones[b] = (ones[b] ?? 0) + 1;
  }
  for (const c of ones) assert.ok(Math.abs(c / n - 0.5) < 0.02, `bit frequency ${c / n}`);
  assert.equal(fmix32(0), 0);
});

test("non-Latin-1 keys hash by code unit", () => {
  assert.notEqual(hashString32("\u4e2d.example"), hashString32("\u4e2e.example"));
});
