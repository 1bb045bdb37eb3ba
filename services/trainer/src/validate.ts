// Validation of a trained model on rows it was not trained on, float and int8 side by side, and the
// quality bar a model must pass before it may be signed and published.
import { floatInputs, floatLogit, type FloatModel, type InputCalibration } from "../../../lib/src/model/float-mlp.js";
import { score, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { accuracy, confusionAt, falsePositiveRate, recall, rocAuc, tprAtFpr } from "../../../lib/src/model/metrics.js";
import type { FeatureRow } from "./mlp-train.js";

export interface ModelMetrics {
  samples: number;
  positives: number;
  float_auc: number;
  int8_auc: number;
  auc_gap: number;
  /** At the int8 threshold (threat_threshold). */
  accuracy: number;
  recall: number;
  false_positive_rate: number;
  int8_tpr_at_fpr_1e_2: number;
  int8_tpr_at_fpr_1e_3: number;
  /** Share of rows whose int8 verdict equals the float verdict at threat_threshold. */
  verdict_agreement: number;
}

export interface QualityBar {
  minAuc: number;
  maxAucGap: number;
  /** Highest FPR at the deployed threshold (config false_positive_tolerance). */
  maxFalsePositiveRate: number;
  minRecall: number;
  minSamples: number;
}

export const DEFAULT_QUALITY_BAR: QualityBar = {
  minAuc: 0.97,
  maxAucGap: 0.005,
  maxFalsePositiveRate: 0.01,
  minRecall: 0.6,
  minSamples: 1000,
};

export function evaluateModel(
  float: FloatModel,
  calibration: InputCalibration,
  quant: QuantModel,
  outputScale: number,
  rows: readonly FeatureRow[],
): ModelMetrics {
  const pf: number[] = [];
  const nf: number[] = [];
  const pq: number[] = [];
  const nq: number[] = [];
  let agree = 0;
  const floatThreshold = quant.threshold * outputScale;
  for (const r of rows) {
    const ngram = r.rows ?? null;
    const lf = floatLogit(float, floatInputs(calibration, r.features), ngram);
    const lq = score(quant, r.features, ngram);
    if ((lf >= floatThreshold) === (lq >= quant.threshold)) agree++;
    (r.label === 1 ? pf : nf).push(lf);
    (r.label === 1 ? pq : nq).push(lq);
  }
  const c = confusionAt(pq, nq, quant.threshold);
  const floatAuc = rocAuc(pf, nf);
  const int8Auc = rocAuc(pq, nq);
  return {
    samples: rows.length,
    positives: pf.length,
    float_auc: floatAuc,
    int8_auc: int8Auc,
    auc_gap: floatAuc - int8Auc,
    accuracy: accuracy(c),
    recall: recall(c),
    false_positive_rate: falsePositiveRate(c),
    int8_tpr_at_fpr_1e_2: tprAtFpr(pq, nq, 1e-2).tpr,
    int8_tpr_at_fpr_1e_3: tprAtFpr(pq, nq, 1e-3).tpr,
    verdict_agreement: rows.length === 0 ? NaN : agree / rows.length,
  };
}

/** Why the model must not be published; empty when it passes. */
export function qualityFailures(m: ModelMetrics, bar: QualityBar = DEFAULT_QUALITY_BAR): string[] {
  const out: string[] = [];
  if (m.samples < bar.minSamples) out.push(`only ${m.samples} validation rows (need ${bar.minSamples})`);
  if (!(m.int8_auc >= bar.minAuc)) out.push(`int8 AUC ${m.int8_auc.toFixed(4)} < ${bar.minAuc}`);
  if (!(Math.abs(m.auc_gap) <= bar.maxAucGap)) out.push(`float-int8 AUC gap ${m.auc_gap.toFixed(4)} > ${bar.maxAucGap}`);
  if (!(m.false_positive_rate <= bar.maxFalsePositiveRate)) {
    out.push(`false positive rate ${m.false_positive_rate.toFixed(4)} at the threshold > ${bar.maxFalsePositiveRate}`);
  }
  if (!(m.recall >= bar.minRecall)) out.push(`recall ${m.recall.toFixed(4)} at the threshold < ${bar.minRecall}`);
  return out;
}
