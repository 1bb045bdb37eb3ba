// The float twin of the kernel model: the trained network before weight quantization, on the same
// quantized inputs (x / 127), so "float" vs "int8" figures differ only by the weight and hidden rounding.
import { quantizeInputs, type QuantModel } from "./int8-mlp.js";

export interface FloatModel {
  nIn: number;
  nHidden: number;
  /** Row-major [nHidden][nIn]. */
  w1: number[];
  b1: number[];
  w2: number[];
  b2: number;
}

/** Input calibration shared by both twins: in_zero and in_mul of the quantized model. */
export type InputCalibration = Pick<QuantModel, "nIn" | "inZero" | "inMul">;

/** The float model's input: the kernel's int8 input divided by 127. */
export function floatInputs(cal: InputCalibration, f: ArrayLike<number>): Float64Array {
  return Float64Array.from(quantizeInputs(cal, f), (v) => v / 127);
}

/** The logit of the float model for already computed inputs. */
export function floatLogit(m: FloatModel, x: ArrayLike<number>): number {
  let out = m.b2;
  for (let j = 0; j < m.nHidden; j++) {
    let a = m.b1[j]!;
    const row = j * m.nIn;
    for (let i = 0; i < m.nIn; i++) a += m.w1[row + i]! * x[i]!;
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
