// One training run from feature rows to a validated quantized model: train the float MLP, quantize it
// to the kernel's integer rules, score both on the validation rows, and apply the quality bar.
import type { FloatModel, InputCalibration } from "../../../lib/src/model/float-mlp.js";
import type { QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { DEFAULT_TRAIN_OPTIONS, trainFloatModel, type FeatureRow, type TrainOptions } from "./mlp-train.js";
import { quantizeModel } from "./quantize.js";
import { DEFAULT_QUALITY_BAR, evaluateModel, qualityFailures, type ModelMetrics, type QualityBar } from "./validate.js";

export interface RunOptions {
  train: TrainOptions;
  threatThreshold: number;
  version: bigint;
  featureSpec: number;
  quality: QualityBar;
  /** Rows of the training set used to calibrate the hidden ranges (bounded for speed). */
  calibrationRows: number;
  /**
   * Quantile of |w1| that maps to int8 127. A continuous round (a few names repeated thousands of times)
   * leaves a few outsized weights that cost the rest their precision: the demo's round had a float-int8
   * AUC gap of 0.0071 and verdict agreement 0.953 with the max, 0.0020 and 0.983 at 0.99. The offline
   * model loses by saturating (held-out tunnel recall 0.9993 -> 0.9974, DGA TPR at 0.1 % 0.631 -> 0.611),
   * so it keeps the max.
   */
  w1ScaleQuantile: number;
  /** Progress lines (one per epoch). */
  log?: (msg: string) => void;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  train: DEFAULT_TRAIN_OPTIONS,
  threatThreshold: 0.85,
  version: 1n,
  featureSpec: 1,
  quality: DEFAULT_QUALITY_BAR,
  calibrationRows: 20000,
  w1ScaleQuantile: 1,
};

export interface TrainingResult {
  float: FloatModel;
  calibration: InputCalibration;
  quant: QuantModel;
  outputScale: number;
  threatThreshold: number;
  validation: ModelMetrics;
  /** Empty when the model passes the quality bar and may be published. */
  failures: string[];
}

/** Every k-th row, so calibration sees the whole mix of kinds without a second shuffle. */
function stride<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return xs.slice();
  const step = xs.length / n;
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * step)]!);
}

export async function runTraining(train: readonly FeatureRow[], validation: readonly FeatureRow[], opts: RunOptions = DEFAULT_RUN_OPTIONS): Promise<TrainingResult> {
  const trained = await trainFloatModel(train, opts.train, opts.log);
  const { quant, outputScale } = quantizeModel(trained.model, trained.calibration, stride(train, opts.calibrationRows), {
    threatThreshold: opts.threatThreshold,
    hiddenQuantile: 0.9999,
    w1ScaleQuantile: opts.w1ScaleQuantile,
    version: opts.version,
    featureSpec: opts.featureSpec,
  });
  const metrics = evaluateModel(trained.model, trained.calibration, quant, outputScale, validation);
  return {
    float: trained.model,
    calibration: trained.calibration,
    quant,
    outputScale,
    threatThreshold: opts.threatThreshold,
    validation: metrics,
    failures: qualityFailures(metrics, opts.quality),
  };
}
