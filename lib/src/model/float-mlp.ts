// The float twin of the kernel model: the trained network before weight quantization, on the same
// quantized inputs (x / 127) and the same n-gram table rows, so "float" vs "int8" figures differ only by
// the weight, table and hidden rounding.
import { quantizeInputs, type QuantModel } from "./int8-mlp.js";

export interface FloatModel {
  nIn: number;
  nHidden: number;
  /** Row-major [nHidden][nIn]. */
  w1: number[];
  b1: number[];
  w2: number[];
  b2: number;
  /** log2 of the n-gram table's rows; 0 = no table. */
  ngramBits: number;
  /** Row-major [2^ngramBits][nHidden], added into the hidden pre-activations like the int8 table. */
  ngram: Float32Array;
  /** The table holds a TLD row too (as QuantModel.ngramTld); the caller's rows include it. */
  ngramTld?: boolean;
}

/** Input calibration shared by both twins: in_zero and in_mul of the quantized model. */
export type InputCalibration = Pick<QuantModel, "nIn" | "inZero" | "inMul">;

/** The float model's input: the kernel's int8 input divided by 127. */
export function floatInputs(cal: InputCalibration, f: ArrayLike<number>): Float64Array {
  return Float64Array.from(quantizeInputs(cal, f), (v) => v / 127);
}

/** Pre-activation of hidden unit j for inputs x and the name's table rows (null: none). */
export function floatPre(m: FloatModel, x: ArrayLike<number>, rows: ArrayLike<number> | null, j: number): number {
  let a = m.b1[j]!;
  const row = j * m.nIn;
  for (let i = 0; i < m.nIn; i++) a += m.w1[row + i]! * x[i]!;
  if (rows !== null && m.ngramBits > 0) for (let t = 0; t < rows.length; t++) a += m.ngram[rows[t]! * m.nHidden + j]!;
  return a;
}

/** The logit of the float model for already computed inputs and table rows (ngramRows for m.ngramBits). */
export function floatLogit(m: FloatModel, x: ArrayLike<number>, rows: ArrayLike<number> | null): number {
  let out = m.b2;
  for (let j = 0; j < m.nHidden; j++) {
    const a = floatPre(m, x, rows, j);
    if (a > 0) out += m.w2[j]! * a;
  }
  return out;
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export function logit(p: number): number {
  return Math.log(p / (1 - p));
}
