import assert from "node:assert/strict";
import { test } from "node:test";
import { accuracy, confusionAt, falsePositiveRate, precision, recall, rocAuc, tprAtFpr } from "../../src/model/metrics.js";

test("AUC: perfect, inverted, ties count half, a hand-counted case", () => {
  assert.equal(rocAuc([3, 4], [1, 2]), 1);
  assert.equal(rocAuc([1, 2], [3, 4]), 0);
  assert.equal(rocAuc([1], [1]), 0.5);
  // pairs (pos > neg): 2>1 yes, 2>3 no, 4>1 yes, 4>3 yes -> 3/4
  assert.equal(rocAuc([2, 4], [1, 3]), 0.75);
  assert.ok(Number.isNaN(rocAuc([], [1])));
});

test("TPR at FPR: at most floor(fpr · n) negatives above the bound", () => {
  const neg = Array.from({ length: 1000 }, (_, i) => i); // 0..999
  const pos = [999, 998.5, 998, 990, 5];
  // fpr 1e-3: one negative (999) may pass: bound = 998 (the second highest); pos above: 999, 998.5
  assert.deepEqual(tprAtFpr(pos, neg, 1e-3), { tpr: 2 / 5, above: 998 });
  // fpr 1e-2: ten negatives: bound = 989; above: 999, 998.5, 998, 990
  assert.equal(tprAtFpr(pos, neg, 1e-2).tpr, 4 / 5);
  assert.equal(tprAtFpr(pos, neg, 1).tpr, 1);
  assert.ok(Number.isNaN(tprAtFpr(pos, [], 1e-3).tpr), "no negatives: no rate to hold");
});

test("confusion at a threshold uses >= as the kernel does", () => {
  const c = confusionAt([5, 6, 1], [5, 0], 5);
  assert.deepEqual(c, { tp: 2, fn: 1, fp: 1, tn: 1 });
  assert.equal(precision(c), 2 / 3);
  assert.equal(recall(c), 2 / 3);
  assert.equal(falsePositiveRate(c), 0.5);
  assert.equal(accuracy(c), 3 / 5);
});
