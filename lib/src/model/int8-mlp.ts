// The bit-exact TypeScript reference of the kernel's quantized MLP (bpf/stoq_model.h, STOQ_QUANT_RULES 1):
// the oracle for the kernel's score tests, and how the trainer and the evaluation score "as the kernel does".
// Kept in sync with bpf/stoq_model.h and bpf/mlp.h.
import { NGRAM_MAX_BITS, NGRAM_MAX_PER_NAME, NGRAM_MIN_BITS, ngramRows } from "./ngrams.js";

export const QUANT_RULES = 1;
export const MAX_IN = 32;
export const MAX_HIDDEN = 64;
/**
 * Largest ngram_shift (STOQ_NGRAM_SHIFT_MAX): |table sum| <= 252 * 128 < 2^15, so the shifted sum stays
 * below 2^31 and |a| < 2^30 + 2^20 + 2^31 < 2^32, which keeps a * h_mul (|h_mul| <= 2^31) inside s64.
 */
export const NGRAM_MAX_SHIFT = 16;

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
  /** log2 of the n-gram table's rows (lib/src/model/ngrams.ts); 0 = no table. */
  ngramBits: number;
  /** Left shift applied to each unit's table sum before it joins the hidden accumulator, 0..NGRAM_MAX_SHIFT. */
  ngramShift: number;
  /** Row-major [2^ngramBits][n_hidden]: row r, unit j at r * nHidden + j. Empty when ngramBits is 0. */
  ngram: Int8Array;
  /**
   * The table also holds a row for the name's TLD (ngrams.ts ngramTldKey; ngram_flags bit 0 in the
   * kernel layout). Absent or false: trigram rows only, as models trained before the TLD row score.
   */
  ngramTld?: boolean;
}

/** Why a model cannot be scored (the kernel passes the packet unscored); null when it can. */
export function modelShapeError(m: QuantModel): string | null {
  if (!Number.isInteger(m.nIn) || m.nIn < 1 || m.nIn > MAX_IN) return `n_in ${m.nIn} is outside 1..${MAX_IN}`;
  if (!Number.isInteger(m.nHidden) || m.nHidden < 1 || m.nHidden > MAX_HIDDEN) return `n_hidden ${m.nHidden} is outside 1..${MAX_HIDDEN}`;
  if (!Number.isInteger(m.hShift) || m.hShift < 1 || m.hShift > 31) return `h_shift ${m.hShift} is outside 1..31`;
  if (m.inZero.length < m.nIn || m.inMul.length < m.nIn) return `in_zero/in_mul hold fewer than n_in = ${m.nIn} values`;
  if (m.b1.length < m.nHidden || m.w2.length < m.nHidden) return `b1/w2 hold fewer than n_hidden = ${m.nHidden} values`;
  if (m.w1.length < m.nHidden * m.nIn) return `w1 holds fewer than n_hidden * n_in = ${m.nHidden * m.nIn} weights`;
  if (!Number.isInteger(m.ngramBits) || (m.ngramBits !== 0 && (m.ngramBits < NGRAM_MIN_BITS || m.ngramBits > NGRAM_MAX_BITS))) {
    return `ngram_bits ${m.ngramBits} is neither 0 nor in ${NGRAM_MIN_BITS}..${NGRAM_MAX_BITS}`;
  }
  if (!Number.isInteger(m.ngramShift) || m.ngramShift < 0 || m.ngramShift > NGRAM_MAX_SHIFT) {
    return `ngram_shift ${m.ngramShift} is outside 0..${NGRAM_MAX_SHIFT}`;
  }
  if (m.ngramBits === 0 && m.ngramShift !== 0) return `ngram_shift ${m.ngramShift} without a table (ngram_bits 0)`;
  if (m.ngramBits === 0 && m.ngramTld === true) return "a TLD row without a table (ngram_bits 0)";
  const cells = m.ngramBits === 0 ? 0 : (1 << m.ngramBits) * m.nHidden;
  if (m.ngram.length !== cells) return `the n-gram table holds ${m.ngram.length} weights, expected 2^ngram_bits * n_hidden = ${cells}`;
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

/** The `rows` argument of score() for a wire name: its table rows for m's table, null without a table. */
export function ngramRowsFor(m: Pick<QuantModel, "ngramBits" | "ngramTld">, wire: Uint8Array): Uint16Array | null {
  return m.ngramBits === 0 ? null : ngramRows(wire, m.ngramBits, 0, m.ngramTld === true);
}

/**
 * Per-unit sums of the table rows of one name (rows as ngramRows gives them for m.ngramBits), or null
 * when there is nothing to add: no table, or no rows. |sum| <= 252 * 128, exact in an int32.
 */
export function ngramSums(m: QuantModel, rows: Uint16Array | null): Int32Array | null {
  if (m.ngramBits === 0 || rows === null || rows.length === 0) return null;
  if (rows.length > NGRAM_MAX_PER_NAME) throw new RangeError(`${rows.length} n-grams, at most ${NGRAM_MAX_PER_NAME} per name`);
  const n = m.nHidden;
  const size = 1 << m.ngramBits;
  const s = new Int32Array(n);
  for (const r of rows) {
    if (r >= size) throw new RangeError(`n-gram row ${r} is outside a table of 2^${m.ngramBits} rows`);
    const base = r * n;
    for (let j = 0; j < n; j++) s[j]! += m.ngram[base + j]!;
  }
  return s;
}

/** Hidden activations h[j] in 0..127; `ng` adds each unit's n-gram table sum, shifted by ngram_shift. */
export function hiddenLayer(m: QuantModel, x: Int8Array, ng: Int32Array | null = null): Uint8Array {
  const h = new Uint8Array(m.nHidden);
  const mul = BigInt(m.hMul);
  const shift = BigInt(m.hShift);
  const round = 1n << (shift - 1n);
  for (let j = 0; j < m.nHidden; j++) {
    // |sum| <= 127 * 127 * 32: exact in a double; the bias is added in 64 bits as the kernel does.
    let acc = 0;
    const row = j * m.nIn;
    for (let i = 0; i < m.nIn; i++) acc += m.w1[row + i]! * x[i]!;
    // The shifted sum is < 2^31 in magnitude: exact as a double product.
    if (ng !== null) acc += ng[j]! * 2 ** m.ngramShift;
    const a = BigInt(m.b1[j]!) + BigInt(acc);
    h[j] = Number(clamp((a * mul + round) >> shift, 0n, 127n));
  }
  return h;
}

/**
 * The int32 output: b2 + sum_j w2[j] h[j], computed in 64 bits and truncated to 32 as the kernel returns it.
 * `rows` are the name's table rows, ngramRowsFor(m, wire); null or empty: no n-grams (and a model
 * without a table ignores them).
 */
export function score(m: QuantModel, f: ArrayLike<number>, rows: Uint16Array | null): number {
  const h = hiddenLayer(m, quantizeInputs(m, f), ngramSums(m, rows));
  let out = m.b2;
  for (let j = 0; j < m.nHidden; j++) out += m.w2[j]! * h[j]!;
  return out | 0;
}

export function isThreat(m: QuantModel, f: ArrayLike<number>, rows: Uint16Array | null): boolean {
  return score(m, f, rows) >= m.threshold;
}
