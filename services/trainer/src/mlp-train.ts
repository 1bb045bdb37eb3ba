// Trains the float model the kernel scores (dense inputs plus the bag of hashed character-trigram
// embeddings -> ReLU hidden -> logit) on feature rows, after calibrating the kernel's input quantization
// from the training ranges, so the float model already sees exactly the int8 inputs the kernel computes.
// Learned with TensorFlow.js on its WASM backend.
import type * as TF from "@tensorflow/tfjs";
import { floatInputs, type FloatModel, type InputCalibration } from "../../../lib/src/model/float-mlp.js";
import { tfWasm } from "./tf-backend.js";

export interface FeatureRow {
  /** Integer feature values in feature_spec order (at least nIn of them). */
  features: ArrayLike<number>;
  label: 0 | 1;
  /** Relative weight in the loss (e.g. to balance kinds); 1 when absent. */
  weight?: number;
  /** The name's n-gram table rows (ngramRows for the model's bits); absent or null: none. */
  rows?: Uint16Array | null;
}

export interface TrainOptions {
  nIn: number;
  nHidden: number;
  /** log2 of the n-gram table's rows; 0 = no table. */
  ngramBits: number;
  /** The table also learns a row per TLD (ngrams.ts ngramTldKey); the rows given must include it. */
  ngramTld: boolean;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /**
   * The table's learning rate. Its Adam is dense: a row's momentum keeps moving it for some ten steps
   * after a batch read it, about ten times the single step of a sparse (lazy) update, hence a rate below
   * what a lazy update would take.
   */
  tableLearningRate: number;
  l2: number;
  /** L2 on the table rows a batch touches. */
  tableL2: number;
  /** Quantiles of each feature that map to -127 and +127. */
  rangeQuantile: number;
  seed: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  nIn: 16,
  nHidden: 32,
  ngramBits: 14,
  ngramTld: false,
  epochs: 8,
  batchSize: 128,
  learningRate: 0.003,
  tableLearningRate: 0.002,
  l2: 1e-5,
  tableL2: 1e-3,
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


/** mulberry32: a small seeded generator, so a training run is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

/** A long run hands the event loop back this often (the continuous trainer shares it with its consumers). */
const YIELD_MS = 50;

/**
 * A batch's n-gram bag as index lists: the distinct table rows it reads, and each (name, row) occurrence
 * as an index into them, ordered by name for the forward sum and by row for its gradient (the segment
 * sums need sorted segment ids).
 */
interface BatchBag {
  distinct: Int32Array;
  bySample: { local: Int32Array; sample: Int32Array };
  byLocal: { local: Int32Array; sample: Int32Array };
}

function batchBag(rowLists: readonly Uint16Array[], slot: Int32Array): BatchBag {
  const distinct: number[] = [];
  let count = 0;
  for (const rows of rowLists) count += rows.length;
  const local = new Int32Array(count);
  const sample = new Int32Array(count);
  let o = 0;
  rowLists.forEach((rows, b) => {
    for (const row of rows) {
      if (slot[row] === -1) slot[row] = distinct.push(row) - 1;
      local[o] = slot[row]!;
      sample[o++] = b;
    }
  });
  for (const row of distinct) slot[row] = -1;
  // Counting sort of the occurrences by distinct row.
  const start = new Int32Array(distinct.length + 1);
  for (const l of local) start[l + 1]!++;
  for (let l = 0; l < distinct.length; l++) start[l + 1]! += start[l]!;
  const byLocal = { local: new Int32Array(count), sample: new Int32Array(count) };
  for (let t = 0; t < count; t++) {
    const at = start[local[t]!]!++;
    byLocal.local[at] = local[t]!;
    byLocal.sample[at] = sample[t]!;
  }
  return { distinct: Int32Array.from(distinct), bySample: { local, sample }, byLocal };
}

/**
 * Mini-batch Adam (tf.train's, one optimizer for the dense weights and one at its own rate for the table)
 * on the weighted sigmoid cross-entropy, with L2 on the weights and on the table rows a batch reads, and a
 * learning rate that decays linearly to a tenth, so the weights settle before they are rounded to int8.
 * The table starts at zero, so a trigram no training name holds adds nothing to any unit. The inputs are
 * standardized for the optimizer and the standardization folded back into w1 and b1, so the returned model
 * reads the kernel's x / 127 directly.
 *
 * The bag sum is a gather of the batch's distinct rows and a SparseSegmentSum per name; the WASM backend
 * has no UnsortedSegmentSum, which tfjs's own gradients of both ops need, so both carry a custom gradient
 * from kernels it has: the bag's is a SparseSegmentSum of the names' gradients per distinct row, the
 * gather's a ScatterNd of those into the table's shape (distinct rows, so nothing needs accumulating).
 */
export async function trainFloatModel(data: readonly FeatureRow[], opts: TrainOptions = DEFAULT_TRAIN_OPTIONS, log?: (m: string) => void): Promise<TrainedFloat> {
  const tf = await tfWasm();
  const { nIn, nHidden: H } = opts;
  const n = data.length;
  const calibration = calibrateInputs(data, nIn, opts.rangeQuantile);
  const xs = new Float32Array(n * nIn);
  data.forEach((r, k) => xs.set(floatInputs(calibration, r.features), k * nIn));
  const mean = new Float64Array(nIn);
  const std = new Float64Array(nIn);
  for (let k = 0; k < n; k++) for (let i = 0; i < nIn; i++) mean[i]! += xs[k * nIn + i]! / n;
  for (let k = 0; k < n; k++) for (let i = 0; i < nIn; i++) std[i]! += (xs[k * nIn + i]! - mean[i]!) ** 2 / n;
  for (let i = 0; i < nIn; i++) std[i] = Math.sqrt(std[i]!) || 1;
  for (let k = 0; k < n; k++) for (let i = 0; i < nIn; i++) xs[k * nIn + i] = (xs[k * nIn + i]! - mean[i]!) / std[i]!;
  const noRows = new Uint16Array(0);
  const rowsOf = (r: FeatureRow): Uint16Array => (opts.ngramBits > 0 && r.rows ? r.rows : noRows);
  const tableRows = opts.ngramBits > 0 ? 1 << opts.ngramBits : 0;

  const rnd = mulberry32(opts.seed);
  const w1Init = Float32Array.from({ length: nIn * H }, () => gaussian(rnd) * Math.sqrt(2 / nIn));
  const w2Init = Float32Array.from({ length: H }, () => gaussian(rnd) * Math.sqrt(1 / H));
  // tfjs layout: w1 is [nIn][H] (x · W1), the table [2^bits][H] like the kernel's. tidy drops each initial
  // value (the variable keeps its own reference), so repeated runs in one process hold no stale tensors.
  const variable = (init: () => TF.Tensor): TF.Variable => tf.tidy(() => tf.variable(init()));
  const W1 = variable(() => tf.tensor2d(w1Init, [nIn, H]));
  const B1 = variable(() => tf.zeros([H]));
  const W2 = variable(() => tf.tensor2d(w2Init, [H, 1]));
  const B2 = variable(() => tf.zeros([1]));
  const table = tableRows > 0 ? variable(() => tf.zeros([tableRows, H])) : null;
  const dense = [W1, B1, W2, B2];
  const denseOpt = new tf.AdamOptimizer(opts.learningRate, 0.9, 0.999, 1e-8);
  const tableOpt = new tf.AdamOptimizer(opts.tableLearningRate, 0.9, 0.999, 1e-8);
  // tfjs reads an optimizer's learningRate at every step; the field is protected, not read-only.
  const setRate = (o: TF.AdamOptimizer, lr: number): void => void ((o as unknown as { learningRate: number }).learningRate = lr);
  const slot = new Int32Array(tableRows).fill(-1);
  let finalLoss = NaN;
  let lastYield = Date.now();

  const order = Int32Array.from({ length: n }, (_, i) => i);
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      let lossSum = 0;
      let weightSum = 0;
      for (let start = 0; start < n; start += opts.batchSize) {
        const end = Math.min(n, start + opts.batchSize);
        const B = end - start;
        const decay = 1 - (0.9 * (epoch + start / n)) / opts.epochs;
        setRate(denseOpt, opts.learningRate * decay);
        setRate(tableOpt, opts.tableLearningRate * decay);
        const xb = new Float32Array(B * nIn);
        const yb = new Float32Array(B);
        const wb = new Float32Array(B);
        const rowLists: Uint16Array[] = [];
        let bw = 0;
        for (let b = 0; b < B; b++) {
          const k = order[start + b]!;
          const r = data[k]!;
          xb.set(xs.subarray(k * nIn, (k + 1) * nIn), b * nIn);
          yb[b] = r.label;
          wb[b] = r.weight ?? 1;
          bw += wb[b]!;
          rowLists.push(rowsOf(r));
        }
        const bag = table === null ? null : batchBag(rowLists, slot);
        const objective = tf.tidy(() => {
          const x = tf.tensor2d(xb, [B, nIn]);
          const y = tf.tensor2d(yb, [B, 1]);
          const w = tf.tensor2d(wb, [B, 1]);
          const sparse =
            table === null || bag === null || bag.distinct.length === 0
              ? null
              : {
                  distinct: tf.tensor2d(bag.distinct, [bag.distinct.length, 1], "int32"),
                  fwdLocal: tf.tensor1d(bag.bySample.local, "int32"),
                  fwdSample: tf.tensor1d(bag.bySample.sample, "int32"),
                  bwdSample: tf.tensor1d(bag.byLocal.sample, "int32"),
                  bwdLocal: tf.tensor1d(bag.byLocal.local, "int32"),
                  // A name past the last one with rows gets no output row from the segment sum.
                  missing: B - 1 - bag.bySample.sample[bag.bySample.sample.length - 1]!,
                };
          const gatherRows = tf.customGrad((t) => {
            const s = sparse!;
            return {
              value: tf.gatherND(t as TF.Tensor2D, s.distinct),
              gradFunc: (dy: TF.Tensor) => tf.scatterND(s.distinct, dy, [tableRows, H]),
            };
          });
          const bagSum = tf.customGrad((rows) => {
            const s = sparse!;
            const sum = tf.sparse.sparseSegmentSum(rows as TF.Tensor2D, s.fwdLocal, s.fwdSample);
            return {
              value: s.missing > 0 ? tf.pad(sum, [[0, s.missing], [0, 0]]) : sum,
              gradFunc: (dy: TF.Tensor) => tf.sparse.sparseSegmentSum(dy, s.bwdSample, s.bwdLocal),
            };
          });
          const vars = sparse === null ? dense : [...dense, table!];
          const { value, grads } = tf.variableGrads(() => {
            let pre = x.matMul(W1).add(B1);
            let reg = tf.sum(tf.square(W1)).add(tf.sum(tf.square(W2))).mul(opts.l2);
            if (sparse !== null) {
              const rows = gatherRows(table!);
              pre = pre.add(bagSum(rows));
              reg = reg.add(tf.sum(tf.square(rows)).mul(opts.tableL2));
            }
            const logits = tf.relu(pre).matMul(W2).add(B2);
            const ce = tf.losses.sigmoidCrossEntropy(y, logits, w, 0, tf.Reduction.NONE);
            return tf.sum(ce).div<TF.Scalar>(bw).add<TF.Scalar>(reg);
          }, vars);
          denseOpt.applyGradients(dense.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
          if (sparse !== null) tableOpt.applyGradients([{ name: table!.name, tensor: grads[table!.name]! }]);
          return value.dataSync()[0]!;
        });
        lossSum += objective * bw;
        weightSum += bw;
        if (Date.now() - lastYield > YIELD_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = Date.now();
        }
      }
      finalLoss = lossSum / Math.max(weightSum, 1e-12);
      log?.(`epoch ${epoch + 1}/${opts.epochs}: loss ${finalLoss.toFixed(5)}`);
    }

    // Fold the standardization back: w (x - m) / s = (w / s) x - w m / s. W1 is [nIn][H]; the model's
    // w1 is row j = the weights into unit j.
    const k1 = W1.dataSync();
    const b1 = Array.from(B1.dataSync());
    const w1 = new Array<number>(H * nIn);
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < nIn; i++) {
        const wji = k1[i * H + j]! / std[i]!;
        w1[j * nIn + i] = wji;
        b1[j]! -= wji * mean[i]!;
      }
    }
    return {
      calibration,
      model: {
        nIn,
        nHidden: H,
        w1,
        b1,
        w2: Array.from(W2.dataSync()),
        b2: B2.dataSync()[0]!,
        ngramBits: opts.ngramBits,
        ...(opts.ngramBits > 0 && opts.ngramTld ? { ngramTld: true } : {}),
        ngram: table === null ? new Float32Array(0) : Float32Array.from(table.dataSync()),
      },
      finalLoss,
    };
  } finally {
    for (const v of [...dense, ...(table === null ? [] : [table])]) v.dispose();
    denseOpt.dispose();
    tableOpt.dispose();
  }
}
