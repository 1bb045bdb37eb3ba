// The bit-exact TypeScript reference of the kernel's quantized MLP (bpf/stoq_model.h, STOQ_QUANT_RULES 1):
// the oracle for the kernel's score tests, and how the trainer and the evaluation score "as the kernel does".
// Kept in sync with bpf/stoq_model.h and bpf/mlp.h.

export const QUANT_RULES = 1;
export const MAX_IN = 32;
export const MAX_HIDDEN = 64;

/** A quantized model as the kernel reads it (arrays sized for the used part or the full layout). */
export interface QuantModel {
  version: bigint;
  featureSpec: number;
  nIn: number;
  nHidden: number;
  hMul: number;
  hShift: number;
  b2: number;
  threshold: number;
  /** n_in entries (or more; only the first n_in are read). */
  inZero: Int32Array;
  /** n_in Q16 multipliers. */
  inMul: Int32Array;
  /** n_hidden biases. */
  b1: Int32Array;
  /** Row-major [n_hidden][n_in]: row j = weights into hidden unit j. */
  w1: Int8Array;
  /** n_hidden weights. */
  w2: Int8Array;
}

/** Why a model cannot be scored (the kernel passes the packet unscored); null when it can. */
export function modelShapeError(m: QuantModel): string | null {
  if (!Number.isInteger(m.nIn) || m.nIn < 1 || m.nIn > MAX_IN) return `n_in ${m.nIn} is outside 1..${MAX_IN}`;
  if (!Number.isInteger(m.nHidden) || m.nHidden < 1 || m.nHidden > MAX_HIDDEN) return `n_hidden ${m.nHidden} is outside 1..${MAX_HIDDEN}`;
  if (!Number.isInteger(m.hShift) || m.hShift < 1 || m.hShift > 31) return `h_shift ${m.hShift} is outside 1..31`;
  if (m.inZero.length < m.nIn || m.inMul.length < m.nIn) return `in_zero/in_mul hold fewer than n_in = ${m.nIn} values`;
  if (m.b1.length < m.nHidden || m.w2.length < m.nHidden) return `b1/w2 hold fewer than n_hidden = ${m.nHidden} values`;
  if (m.w1.length < m.nHidden * m.nIn) return `w1 holds fewer than n_hidden * n_in = ${m.nHidden * m.nIn} weights`;
  return null;
}

function clamp(v: bigint, lo: bigint, hi: bigint): bigint {
  return v < lo ? lo : v > hi ? hi : v;
}

/** x[i] = clamp(((s64)(f[i] - in_zero[i]) * in_mul[i] + 2^15) >> 16, -127, 127); BigInt: the product needs 63 bits. */
export function quantizeInputs(m: Pick<QuantModel, "nIn" | "inZero" | "inMul">, f: ArrayLike<number>): Int8Array {
  const x = new Int8Array(m.nIn);
  for (let i = 0; i < m.nIn; i++) {
    const d = BigInt(f[i] ?? 0) - BigInt(m.inZero[i]!);
    x[i] = Number(clamp((d * BigInt(m.inMul[i]!) + 32768n) >> 16n, -127n, 127n));
  }
  return x;
}

/** Hidden activations h[j] in 0..127. */
export function hiddenLayer(m: QuantModel, x: Int8Array): Uint8Array {
  const h = new Uint8Array(m.nHidden);
  const mul = BigInt(m.hMul);
  const shift = BigInt(m.hShift);
  const round = 1n << (shift - 1n);
  for (let j = 0; j < m.nHidden; j++) {
    // |sum| <= 127 * 127 * 32: exact in a double; the bias is added in 64 bits as the kernel does.
    let acc = 0;
    const row = j * m.nIn;
    for (let i = 0; i < m.nIn; i++) acc += m.w1[row + i]! * x[i]!;
    const a = BigInt(m.b1[j]!) + BigInt(acc);
    h[j] = Number(clamp((a * mul + round) >> shift, 0n, 127n));
  }
  return h;
}

/** The int32 output: b2 + sum_j w2[j] h[j], computed in 64 bits and truncated to 32 as the kernel returns it. */
export function score(m: QuantModel, f: ArrayLike<number>): number {
  const h = hiddenLayer(m, quantizeInputs(m, f));
  let out = m.b2;
  for (let j = 0; j < m.nHidden; j++) out += m.w2[j]! * h[j]!;
  return out | 0;
}

export function isThreat(m: QuantModel, f: ArrayLike<number>): boolean {
  return score(m, f) >= m.threshold;
}
