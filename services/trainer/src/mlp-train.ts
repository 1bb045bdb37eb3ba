// Trains the float MLP (inputs -> ReLU hidden -> logit) with TensorFlow.js on feature rows, after
// calibrating the kernel's input quantization from the training ranges, so the float model already
// sees exactly the int8 inputs the kernel will compute.
import { floatInputs, type FloatModel, type InputCalibration } from "../../../lib/src/model/float-mlp.js";
import { tfWasm } from "./tf-backend.js";

export interface FeatureRow {
  /** Integer feature values in feature_spec order (at least nIn of them). */
  features: ArrayLike<number>;
  label: 0 | 1;
  /** Relative weight in the loss (e.g. to balance kinds); 1 when absent. */
  weight?: number;
}

export interface TrainOptions {
  nIn: number;
  nHidden: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  l2: number;
  /** Quantiles of each feature that map to -127 and +127. */
  rangeQuantile: number;
  seed: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  nIn: 16,
  nHidden: 32,
  epochs: 40,
  batchSize: 512,
  learningRate: 0.003,
  l2: 1e-5,
  rangeQuantile: 0.001,
  seed: 1,
};

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))]!;
}

/**
 * in_zero / in_mul per feature. A feature whose whole training range fits in 2 · 254 integer steps keeps
 * it all (counts, lengths, flags, ratios: a rare value such as IDN = 1 still reaches the model); a wider
 * one maps its [q, 1 - q] quantile range onto [-127, 127] and saturates outside, in the kernel and in
 * training alike. A constant feature gets in_mul 0.
 */
export function calibrateInputs(rows: readonly FeatureRow[], nIn: number, q: number): InputCalibration {
  const inZero = new Int32Array(nIn);
  const inMul = new Int32Array(nIn);
  const col = new Float64Array(rows.length);
  for (let i = 0; i < nIn; i++) {
    for (let r = 0; r < rows.length; r++) col[r] = rows[r]!.features[i] ?? 0;
    col.sort();
    const min = col[0] ?? 0;
    const max = col[col.length - 1] ?? 0;
    const [lo, hi] = max - min <= 2 * 254 ? [min, max] : [quantile(col, q), quantile(col, 1 - q)];
    if (hi <= lo) {
      inZero[i] = Math.round(lo);
      inMul[i] = 0;
      continue;
    }
    // An integer zero cannot always sit mid-range: the wider side sets the scale, so both ends fit.
    inZero[i] = Math.floor((lo + hi) / 2);
    const half = Math.max(hi - inZero[i]!, inZero[i]! - lo);
    inMul[i] = Math.min(2 ** 31 - 1, Math.floor((127 * 65536) / half));
  }
  return { nIn, inZero, inMul };
}

export interface TrainedFloat {
  calibration: InputCalibration;
  model: FloatModel;
  finalLoss: number;
}

/** Deterministic shuffle of 0..n-1 (mulberry32). */
function permutation(n: number, seed: number): Int32Array {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * Mini-batch Adam on the weighted sigmoid cross-entropy (tfjs-layers' fit has no sample weights), with
 * L2 on the weights and one learning-rate step down late in training so the weights settle before they
 * are rounded to int8.
 */
export async function trainFloatModel(rows: readonly FeatureRow[], opts: TrainOptions = DEFAULT_TRAIN_OPTIONS): Promise<TrainedFloat> {
  const tf = await tfWasm();
  const { nIn, nHidden } = opts;
  const calibration = calibrateInputs(rows, nIn, opts.rangeQuantile);
  const xs = new Float32Array(rows.length * nIn);
  const ys = new Float32Array(rows.length);
  const ws = new Float32Array(rows.length);
  rows.forEach((r, k) => {
    xs.set(floatInputs(calibration, r.features), k * nIn);
    ys[k] = r.label;
    ws[k] = r.weight ?? 1;
  });
  // Standardize for the optimizer (skewed features would otherwise train slowly); folded back into W1
  // and b1 below, so the returned model reads the kernel's x / 127 directly.
  const mean = new Float64Array(nIn);
  const std = new Float64Array(nIn);
  for (let k = 0; k < rows.length; k++) for (let i = 0; i < nIn; i++) mean[i]! += xs[k * nIn + i]! / rows.length;
  for (let k = 0; k < rows.length; k++) for (let i = 0; i < nIn; i++) std[i]! += (xs[k * nIn + i]! - mean[i]!) ** 2 / rows.length;
  for (let i = 0; i < nIn; i++) std[i] = Math.sqrt(std[i]!) || 1;
  for (let k = 0; k < rows.length; k++) for (let i = 0; i < nIn; i++) xs[k * nIn + i] = (xs[k * nIn + i]! - mean[i]!) / std[i]!;
  const x = tf.tensor2d(xs, [rows.length, nIn]);
  const y = tf.tensor2d(ys, [rows.length, 1]);
  const w = tf.tensor2d(ws, [rows.length, 1]);
  const W1 = tf.variable(tf.randomNormal([nIn, nHidden], 0, Math.sqrt(2 / nIn), "float32", opts.seed));
  const B1 = tf.variable(tf.zeros([nHidden]));
  const W2 = tf.variable(tf.randomNormal([nHidden, 1], 0, Math.sqrt(1 / nHidden), "float32", opts.seed + 1));
  const B2 = tf.variable(tf.zeros([1]));
  const optimizer = tf.train.adam(opts.learningRate);
  let finalLoss = NaN;
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      if (epoch === Math.floor(opts.epochs * 0.7)) (optimizer as unknown as { learningRate: number }).learningRate = opts.learningRate / 10;
      const order = permutation(rows.length, opts.seed * 1000 + epoch);
      let sum = 0;
      let batches = 0;
      for (let start = 0; start < rows.length; start += opts.batchSize) {
        const idx = tf.tensor1d(order.subarray(start, Math.min(rows.length, start + opts.batchSize)), "int32");
        const loss = optimizer.minimize(
          () =>
            tf.tidy(() => {
              const xb = tf.gather(x, idx);
              const wb = tf.gather(w, idx);
              const logits = tf.relu(xb.matMul(W1).add(B1)).matMul(W2).add(B2);
              const ce = tf.losses.sigmoidCrossEntropy(tf.gather(y, idx), logits, wb, 0, tf.Reduction.NONE);
              const data = ce.sum().div(wb.sum());
              return data.add(tf.sum(tf.square(W1)).add(tf.sum(tf.square(W2))).mul(opts.l2));
            }),
          true,
        );
        idx.dispose();
        if (loss !== null) {
          sum += (await loss.data())[0]!;
          loss.dispose();
        }
        batches++;
      }
      finalLoss = sum / Math.max(1, batches);
    }
    const k1 = await W1.data();
    const b1 = Array.from(await B1.data());
    // tfjs kernels are [in][out]; the kernel layout is row j = weights into unit j. Folding the
    // standardization: w (x - m) / s = (w / s) x - w m / s.
    const w1 = new Array<number>(nHidden * nIn);
    for (let j = 0; j < nHidden; j++) {
      for (let i = 0; i < nIn; i++) {
        const wji = k1[i * nHidden + j]! / std[i]!;
        w1[j * nIn + i] = wji;
        b1[j]! -= wji * mean[i]!;
      }
    }
    return {
      calibration,
      model: { nIn, nHidden, w1, b1, w2: Array.from(await W2.data()), b2: (await B2.data())[0]! },
      finalLoss,
    };
  } finally {
    for (const t of [x, y, w, W1, B1, W2, B2]) t.dispose();
    optimizer.dispose();
  }
}
