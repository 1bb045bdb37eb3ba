// Trains the float model the kernel scores (dense inputs plus the bag of hashed character-trigram
// embeddings -> ReLU hidden -> logit) on feature rows, after calibrating the kernel's input quantization
// from the training ranges, so the float model already sees exactly the int8 inputs the kernel computes.
// Plain TypeScript: a step touches a few dozen of the table's 2^bits rows, which sparse updates exploit
// and a dense tensor library would not.
import { floatInputs, type FloatModel, type InputCalibration } from "../../../lib/src/model/float-mlp.js";

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
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** The table's learning rate (its rows see few, sparse updates). */
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
  epochs: 8,
  batchSize: 64,
  learningRate: 0.003,
  tableLearningRate: 0.01,
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

const ADAM_B1 = 0.9;
const ADAM_B2 = 0.999;
const ADAM_EPS = 1e-8;
/** A long run hands the event loop back this often (the continuous trainer shares it with its consumers). */
const YIELD_MS = 50;

/**
 * Mini-batch Adam on the weighted sigmoid cross-entropy, with L2 on the weights and a learning rate that
 * decays linearly to a tenth, so the weights settle before they are rounded to int8. The table's Adam
 * moments are updated lazily (only the rows a batch touches), and the table starts at zero, so a trigram
 * no training name holds adds nothing to any unit. The inputs are standardized for the optimizer and the
 * standardization folded back into w1 and b1, so the returned model reads the kernel's x / 127 directly.
 */
export async function trainFloatModel(data: readonly FeatureRow[], opts: TrainOptions = DEFAULT_TRAIN_OPTIONS, log?: (m: string) => void): Promise<TrainedFloat> {
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

  const rnd = mulberry32(opts.seed);
  // Dense parameters in one vector: w1 (unit j's weights at j * nIn), b1, w2, b2; L2 on w1 and w2.
  const oB1 = H * nIn;
  const oW2 = oB1 + H;
  const oB2 = oW2 + H;
  const P = oB2 + 1;
  const p = new Float64Array(P);
  for (let k = 0; k < oB1; k++) p[k] = gaussian(rnd) * Math.sqrt(2 / nIn);
  for (let j = 0; j < H; j++) p[oW2 + j] = gaussian(rnd) * Math.sqrt(1 / H);
  const decayed = (q: number): boolean => q < oB1 || (q >= oW2 && q < oB2);
  const g = new Float64Array(P);
  const m1 = new Float64Array(P);
  const m2 = new Float64Array(P);
  const cells = opts.ngramBits > 0 ? (1 << opts.ngramBits) * H : 0;
  const table = new Float32Array(cells);
  const gt = new Float32Array(cells);
  const t1 = new Float32Array(cells);
  const t2 = new Float32Array(cells);
  const touched: number[] = [];
  const mark = new Uint8Array(opts.ngramBits > 0 ? 1 << opts.ngramBits : 0);
  const pre = new Float64Array(H);
  let step = 0;
  let finalLoss = NaN;
  let lastYield = Date.now();

  const order = Int32Array.from({ length: n }, (_, i) => i);
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
      const decay = 1 - (0.9 * (epoch + start / n)) / opts.epochs;
      g.fill(0);
      touched.length = 0;
      let bw = 0;
      for (let b = start; b < end; b++) bw += data[order[b]!]!.weight ?? 1;
      for (let b = start; b < end; b++) {
        const k = order[b]!;
        const r = data[k]!;
        const rows = rowsOf(r);
        const xo = k * nIn;
        let out = p[oB2]!;
        for (let j = 0; j < H; j++) {
          let a = p[oB1 + j]!;
          for (let i = 0; i < nIn; i++) a += p[j * nIn + i]! * xs[xo + i]!;
          for (let t = 0; t < rows.length; t++) a += table[rows[t]! * H + j]!;
          pre[j] = a;
          if (a > 0) out += p[oW2 + j]! * a;
        }
        const w = r.weight ?? 1;
        lossSum += w * (Math.max(out, 0) - out * r.label + Math.log1p(Math.exp(-Math.abs(out))));
        // d loss / d out = sigmoid(out) - y, weighted and averaged over the batch's weight.
        const d = ((1 / (1 + Math.exp(-out)) - r.label) * w) / bw;
        g[oB2]! += d;
        for (let t = 0; t < rows.length; t++) {
          if (mark[rows[t]!] === 0) {
            mark[rows[t]!] = 1;
            touched.push(rows[t]!);
          }
        }
        for (let j = 0; j < H; j++) {
          const a = pre[j]!;
          if (a <= 0) continue;
          g[oW2 + j]! += d * a;
          const da = d * p[oW2 + j]!;
          g[oB1 + j]! += da;
          for (let i = 0; i < nIn; i++) g[j * nIn + i]! += da * xs[xo + i]!;
          for (let t = 0; t < rows.length; t++) gt[rows[t]! * H + j]! += da;
        }
      }
      weightSum += bw;
      step++;
      const bias1 = 1 - ADAM_B1 ** step;
      const bias2 = Math.sqrt(1 - ADAM_B2 ** step);
      const lr = (opts.learningRate * decay * bias2) / bias1;
      for (let q = 0; q < P; q++) {
        const gq = g[q]! + (decayed(q) ? 2 * opts.l2 * p[q]! : 0);
        m1[q] = ADAM_B1 * m1[q]! + (1 - ADAM_B1) * gq;
        m2[q] = ADAM_B2 * m2[q]! + (1 - ADAM_B2) * gq * gq;
        p[q]! -= (lr * m1[q]!) / (Math.sqrt(m2[q]!) + ADAM_EPS);
      }
      const tlr = (opts.tableLearningRate * decay * bias2) / bias1;
      for (const row of touched) {
        mark[row] = 0;
        for (let c = row * H, e = c + H; c < e; c++) {
          const gq = gt[c]! + 2 * opts.tableL2 * table[c]!;
          gt[c] = 0;
          t1[c] = ADAM_B1 * t1[c]! + (1 - ADAM_B1) * gq;
          t2[c] = ADAM_B2 * t2[c]! + (1 - ADAM_B2) * gq * gq;
          table[c]! -= (tlr * t1[c]!) / (Math.sqrt(t2[c]!) + ADAM_EPS);
        }
      }
      if (Date.now() - lastYield > YIELD_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = Date.now();
      }
    }
    finalLoss = lossSum / Math.max(weightSum, 1e-12);
    log?.(`epoch ${epoch + 1}/${opts.epochs}: loss ${finalLoss.toFixed(5)}`);
  }

  // Fold the standardization back: w (x - m) / s = (w / s) x - w m / s.
  const w1 = new Array<number>(H * nIn);
  const b1 = Array.from(p.subarray(oB1, oW2));
  for (let j = 0; j < H; j++) {
    for (let i = 0; i < nIn; i++) {
      const wji = p[j * nIn + i]! / std[i]!;
      w1[j * nIn + i] = wji;
      b1[j]! -= wji * mean[i]!;
    }
  }
  return {
    calibration,
    model: { nIn, nHidden: H, w1, b1, w2: Array.from(p.subarray(oW2, oB2)), b2: p[oB2]!, ngramBits: opts.ngramBits, ngram: table },
    finalLoss,
  };
}
