import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_QUALITY_BAR, qualityFailures, type ModelMetrics } from "../src/validate.js";

const good: ModelMetrics = {
  samples: 5000,
  positives: 1000,
  float_auc: 0.99,
  int8_auc: 0.989,
  auc_gap: 0.001,
  accuracy: 0.97,
  recall: 0.9,
  false_positive_rate: 0.005,
  int8_tpr_at_fpr_1e_2: 0.9,
  int8_tpr_at_fpr_1e_3: 0.8,
  verdict_agreement: 0.999,
};

test("a good model passes; each failing figure is named", () => {
  assert.deepEqual(qualityFailures(good), []);
  const cases: [Partial<ModelMetrics>, RegExp][] = [
    [{ samples: 10 }, /validation rows/],
    [{ int8_auc: 0.9 }, /int8 AUC/],
    [{ auc_gap: 0.02 }, /AUC gap/],
    [{ auc_gap: -0.02 }, /AUC gap/],
    [{ false_positive_rate: 0.05 }, /false positive rate/],
    [{ recall: 0.1 }, /recall/],
    [{ int8_auc: NaN }, /int8 AUC/],
  ];
  for (const [over, re] of cases) {
    const f = qualityFailures({ ...good, ...over }, DEFAULT_QUALITY_BAR);
    assert.equal(f.length, 1, JSON.stringify(over));
    assert.match(f[0]!, re);
  }
});
