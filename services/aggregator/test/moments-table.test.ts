import { test } from "node:test";
import assert from "node:assert/strict";
import { EMIT_DIRTY, MomentsTable } from "../src/moments-table.js";

test("slots are found again after growth and keep their statistics", () => {
  const t = new MomentsTable(4);
  for (let k = 0; k < 10_000; k++) t.addSample(t.slotFor(k * 7), false, k, 1);
  assert.equal(t.size, 10_000);
  for (let k = 0; k < 10_000; k += 997) {
    const s = t.slotOf(k * 7);
    assert.equal(t.meanAt(s), k);
    assert.equal(t.countAt(s), 1);
  }
  assert.equal(t.slotOf(3), -1);
  assert.equal(t.slotFor(-1), 10_000, "the overflow key has a slot like any other");
});

test("merging slots equals adding the samples to one slot", () => {
  const a = new MomentsTable();
  const b = new MomentsTable();
  const whole = new MomentsTable();
  const xs = [3, 9, 27, 81, 5, 25];
  xs.forEach((x, i) => {
    (i < 2 ? a : b).addSample((i < 2 ? a : b).slotFor(1), x === 81, x, 2);
    whole.addSample(whole.slotFor(1), x === 81, x, 2);
  });
  a.mergeSlot(a.slotFor(1), b, b.slotOf(1));
  for (const f of ["countAt", "flaggedAt", "nAt", "minAt", "maxAt"] as const) assert.equal(a[f](0), whole[f](0), f);
  assert.ok(Math.abs(a.meanAt(0) - whole.meanAt(0)) < 1e-12);
  assert.ok(Math.abs(a.m2At(0) - whole.m2At(0)) < 1e-9);
});

test("top slots are the k largest, by count or by volume, skipping the overflow key", () => {
  const t = new MomentsTable();
  const counts = [5, 1, 9, 3, 9, 7];
  counts.forEach((c, k) => {
    for (let i = 0; i < c; i++) t.addSample(t.slotFor(k), false, 100 - k * 10, 1);
  });
  for (let i = 0; i < 50; i++) t.addCount(t.slotFor(-1), false);
  assert.deepEqual(t.topSlots(3, "count", -1).map((s) => t.keyAt(s)), [2, 4, 5]);
  // volume = n x mean: 5x100, 1x90, 9x80, 3x70, 9x60, 7x50
  assert.deepEqual(t.topSlots(2, "volume", -1).map((s) => t.keyAt(s)), [2, 4]);
  assert.deepEqual(t.topSlots(0, "count", -1), []);
});

test("marks are set by updates and cleared per kind", () => {
  const t = new MomentsTable();
  t.addCount(t.slotFor(5), false);
  assert.equal((t.marks[0] ?? 0) & EMIT_DIRTY, EMIT_DIRTY);
  t.clearMarks(EMIT_DIRTY);
  assert.equal((t.marks[0] ?? 0) & EMIT_DIRTY, 0);
  assert.notEqual(t.marks[0], 0, "the snapshot mark is kept");
});

test("a column is the field's values packed little-endian, as the changelog stores them", () => {
  const t = new MomentsTable();
  t.addSample(t.slotFor(7), true, 2.5, 1);
  t.addSample(t.slotFor(9), false, 4, 3);
  t.addSample(t.slotFor(9), true, 8, 1);
  assert.deepEqual([...new Float64Array(new Uint8Array(t.column("count", 0, 2)).buffer)], [1, 2]);
  assert.deepEqual([...new Uint32Array(new Uint8Array(t.column("flagged", 0, 2)).buffer)], [1, 1]);
  assert.deepEqual([...new Float64Array(new Uint8Array(t.column("mean", 1, 2)).buffer)], [5]);
  assert.deepEqual([...new Float32Array(new Uint8Array(t.column("min", 0, 2)).buffer)], [2.5, 4]);
  assert.deepEqual([...new Float32Array(new Uint8Array(t.column("max", 0, 2)).buffer)], [2.5, 8]);
});

test("touch() reads what a lookup would and changes nothing", () => {
  const t = new MomentsTable(4);
  for (let k = 0; k < 100; k++) t.addCount(t.slotFor(k * 3), false);
  let hits = 0;
  for (let k = 0; k < 100; k++) if (t.touch(k * 3) === k * 3) hits++;
  assert.ok(hits > 50, "most keys sit in their home slot");
  assert.equal(t.touch(1), t.touch(1));
  assert.equal(t.size, 100);
  assert.equal(t.slotOf(1), -1);
  for (let k = 0; k < 100; k++) assert.equal(t.countAt(t.slotOf(k * 3)), 1);
});
