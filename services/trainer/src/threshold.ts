// Raises a model's integer threshold until its false-positive rate on validation rows stays within the
// operator's tolerance (machine_learning.threat_detection.false_positive_tolerance): threat_threshold is
// the floor, the tolerance is the promise.
import { score, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { tprAtFpr } from "../../../lib/src/model/metrics.js";
import type { FeatureRow } from "./mlp-train.js";

/** The lowest int threshold (verdict: out >= threshold) whose FPR on the benign rows is <= `fpr`, and no lower than the model's own. */
export function thresholdWithinFpr(m: QuantModel, rows: readonly FeatureRow[], fpr: number): number {
  const pos: number[] = [];
  const neg: number[] = [];
  for (const r of rows) (r.label === 1 ? pos : neg).push(score(m, r.features, r.rows ?? null));
  if (neg.length === 0) return m.threshold;
  // tprAtFpr's `above` is the benign score ranked at fpr * n from the top: only scores above it may fire.
  const { above } = tprAtFpr(pos, neg, fpr);
  return Math.max(m.threshold, above + 1);
}
