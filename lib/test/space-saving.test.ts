import { test } from "node:test";
import assert from "node:assert/strict";
import { SpaceSaving } from "../src/space-saving.js";

function zipfStream(n: number, keys: number, seed: number): string[] {
  // Deterministic Zipf(1) sample via inverse CDF over a fixed key set.
  const w = Array.from({ length: keys }, (_, i) => 1 / (i + 1));
  const total = w.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const x of w) cdf.push((acc += x / total));
  let s = seed;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = s / 2 ** 32;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    out.push(`k${lo}`);
  }
  return out;
}

function exactCounts(xs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

test("every item above N/k is kept, and counts bound the truth from above by at most error", () => {
  const xs = zipfStream(50_000, 5_000, 7);
  const k = 100;
  const ss = new SpaceSaving(k);
  for (const x of xs) ss.add(x);
  const exact = exactCounts(xs);
  const top = ss.top();
  const kept = new Set(top.map((h) => h.key));
  for (const [key, c] of exact) if (c > xs.length / k) assert.ok(kept.has(key), `${key} (${c}) missing`);
  for (const h of top) {
    const truth = exact.get(h.key) ?? 0;
    assert.ok(h.count >= truth && h.count - h.error <= truth, `${h.key}: ${h.count}-${h.error} vs ${truth}`);
  }
  assert.equal(top[0]?.key, "k0");
  assert.equal(ss.offered, 50_000);
});

test("merged summaries keep the guarantees of the concatenated stream", () => {
  const a = zipfStream(20_000, 2_000, 1);
  const b = zipfStream(20_000, 2_000, 2);
  const sa = new SpaceSaving(50);
  const sb = new SpaceSaving(50);
  for (const x of a) sa.add(x);
  for (const x of b) sb.add(x);
  sa.merge(sb);
  const exact = exactCounts([...a, ...b]);
  const kept = new Set(sa.top().map((h) => h.key));
  for (const [key, c] of exact) if (c > 40_000 / 50) assert.ok(kept.has(key), `${key} (${c}) missing after merge`);
  for (const h of sa.top()) {
    const truth = exact.get(h.key) ?? 0;
    assert.ok(h.count >= truth && h.count - h.error <= truth, `${h.key}: ${h.count}-${h.error} vs ${truth}`);
  }
  assert.equal(sa.offered, 40_000);
});

test("with fewer distinct keys than counters, counts are exact", () => {
  const ss = new SpaceSaving(10);
  for (const [k, n] of [["a", 5], ["b", 3], ["c", 9]] as const) for (let i = 0; i < n; i++) ss.add(k);
  assert.deepEqual(ss.top(2), [{ key: "c", count: 9, error: 0 }, { key: "a", count: 5, error: 0 }]);
});
