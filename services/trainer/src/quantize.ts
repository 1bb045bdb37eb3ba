// Post-training quantization of the float model to the integer rules of bpf/stoq_model.h: per-unit range
// equalization, int8 weights, an int8 n-gram table whose sums are shifted onto the scale of the w1·x
// accumulator (ngram_shift), int32 biases with bias correction, hidden requantization (h_mul, h_shift),
// and the integer threshold derived from threat_threshold through the output scale.
import { floatInputs, floatPre, logit, type FloatModel, type InputCalibration } from "../../../lib/src/model/float-mlp.js";
import { NGRAM_MAX_SHIFT, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import type { FeatureRow } from "./mlp-train.js";

export interface QuantizeOptions {
  /** Probability at or above which a query is a threat (config threat_threshold). */
  threatThreshold: number;
  /** Quantile of each hidden unit's activation that maps to 127. */
  hiddenQuantile: number;
  /** Quantile of |w1| that maps to 127 (1: the largest weight; below, the largest weights saturate). */
  w1ScaleQuantile: number;
  version: bigint;
  featureSpec: number;
}

export interface Quantized {
  quant: QuantModel;
  /** probability = sigmoid(output * outputScale). */
  outputScale: number;
}

const INT32_MAX = 2 ** 31 - 1;

function roundClamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(v)));
}

function quantileAbs(xs: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(xs, Math.abs).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * (sorted.length - 1)))] ?? 0;
}

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]!));
  return m;
}

export function quantizeModel(
  float: FloatModel,
  calibration: InputCalibration,
  calibrationRows: readonly FeatureRow[],
  opts: QuantizeOptions,
): Quantized {
  const { nIn, nHidden } = float;
  const bits = float.ngramBits;
  const xs = calibrationRows.map((r) => floatInputs(calibration, r.features));
  const rowsOf = (k: number): Uint16Array | null => (bits > 0 ? (calibrationRows[k]!.rows ?? null) : null);

  // Equalize: scale unit j so its activation quantile is 1 (ReLU is positively homogeneous, so
  // w1_j, b1_j and the table's column j scaled by s and w2_j by 1/s compute the same function). Every
  // unit then uses the whole 0..127 range of the int8 hidden value.
  const w1 = float.w1.slice();
  const b1 = float.b1.slice();
  const w2 = float.w2.slice();
  const ngram = Float32Array.from(float.ngram);
  const acts = new Float64Array(xs.length);
  for (let j = 0; j < nHidden; j++) {
    xs.forEach((x, k) => (acts[k] = Math.max(0, floatPre(float, x, rowsOf(k), j))));
    acts.sort();
    const r = acts[Math.min(acts.length - 1, Math.floor(opts.hiddenQuantile * (acts.length - 1)))] ?? 0;
    if (!(r > 1e-9)) continue; // a dead unit: its output is 0 whatever the scale
    for (let i = 0; i < nIn; i++) w1[j * nIn + i]! /= r;
    b1[j]! /= r;
    w2[j]! *= r;
    for (let c = j; c < ngram.length; c += nHidden) ngram[c]! /= r;
  }
  const eq: FloatModel = { ...float, w1, b1, w2, ngram };

  // x_int = 127 x, so a = b1 + sum w1 x = (sw / 127) (b1q + sum w1q x_int): the accumulator's unit is sa.
  // One scale serves every unit, and equalization can leave their rows 16x apart in size: scaled by the
  // largest weight, the small units keep a handful of int8 steps. Below 1 the few largest saturate and
  // every other weight gains precision (see RunOptions.w1ScaleQuantile for where that pays).
  const sw = quantileAbs(w1, opts.w1ScaleQuantile) / 127 || 1;
  const sa = sw / 127;
  const w1q = Int8Array.from(w1, (v) => roundClamp(v / sw, -127, 127));
  // The table joins the accumulator as (sum of int8 rows) << shift: one table step is sa · 2^shift, the
  // smallest power of two that keeps the largest entry within int8.
  const tableMax = maxAbs(ngram);
  const ngramShift = bits === 0 ? 0 : Math.max(0, Math.min(NGRAM_MAX_SHIFT, Math.ceil(Math.log2(tableMax / (127 * sa)))));
  const st = sa * 2 ** ngramShift;
  const ngramQ = Int8Array.from(ngram, (v) => roundClamp(v / st, -127, 127));
  const b1q = Int32Array.from(b1, (v) => roundClamp(v / sa, -(2 ** 30), 2 ** 30));

  // Bias correction: move each unit's mean integer pre-activation onto the float one.
  for (let j = 0; j < nHidden; j++) {
    let diff = 0;
    xs.forEach((x, k) => {
      let aq = 0;
      for (let i = 0; i < nIn; i++) aq += w1q[j * nIn + i]! * Math.round(127 * x[i]!);
      const rows = rowsOf(k);
      if (rows !== null) {
        let t = 0;
        for (const row of rows) t += ngramQ[row * nHidden + j]!;
        aq += t * 2 ** ngramShift;
      }
      diff += floatPre(eq, x, rows, j) / sa - (b1q[j]! + aq);
    });
    b1q[j] = roundClamp(b1q[j]! + diff / Math.max(1, xs.length), -(2 ** 30), 2 ** 30);
  }

  // h_int = a_int * sa / sh with sh = 1/127 (activation quantile 1 -> 127): h_mul / 2^h_shift = sa * 127.
  const mult = sa * 127;
  const hShift = Math.max(1, Math.min(31, Math.floor(Math.log2(INT32_MAX / mult))));
  const hMul = roundClamp(mult * 2 ** hShift, 1, INT32_MAX);

  // out = b2 + sum w2 h with h = h_int / 127: out_int = b2q + sum w2q h_int at scale sw2 / 127.
  const sw2 = maxAbs(w2) / 127 || 1;
  const w2q = Int8Array.from(w2, (v) => roundClamp(v / sw2, -127, 127));
  const outputScale = sw2 / 127;
  const b2q = roundClamp(float.b2 / outputScale, -(2 ** 30), 2 ** 30);
  const threshold = roundClamp(Math.ceil(logit(opts.threatThreshold) / outputScale), -(2 ** 31), INT32_MAX);

  return {
    quant: {
      version: opts.version,
      featureSpec: opts.featureSpec,
      nIn,
      nHidden,
      hMul,
      hShift,
      b2: b2q,
      threshold,
      inZero: Int32Array.from(calibration.inZero.subarray(0, nIn)),
      inMul: Int32Array.from(calibration.inMul.subarray(0, nIn)),
      b1: b1q,
      w1: w1q,
      w2: w2q,
      ngramBits: bits,
      ngramShift,
      ngram: ngramQ,
      ...(bits > 0 && float.ngramTld === true ? { ngramTld: true } : {}),
    },
    outputScale,
  };
}
