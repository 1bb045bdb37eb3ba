// Conversion between a quantized model and its ModelUpdate record (schemas/ModelUpdate.avsc), with the
// shape and range checks a collector applies before a model may reach the kernel.
import type { ModelUpdate } from "../avro.js";
import { StoqError } from "../errors.js";
import { MESSAGE_MAX_BYTES, ONE_RECORD_OVERHEAD_BYTES } from "../topics.js";
import { FEATURE_SPEC } from "./features.js";
import { MAX_HIDDEN, MAX_IN, NGRAM_MAX_SHIFT, QUANT_RULES, modelShapeError, type QuantModel } from "./int8-mlp.js";
import { NGRAM_FLAG_TLD, NGRAM_MAX_BITS, NGRAM_MIN_BITS } from "./ngrams.js";

export type UnsignedModelUpdate = Omit<ModelUpdate, "signature" | "signing_key_id">;

export interface UpdateMeta {
  modelName: string;
  createdAtMs: number;
  threatThreshold: number;
  outputScale: number;
  /** Finite values only; others are dropped (Avro doubles could carry them, dashboards choke on them). */
  metrics: Record<string, number>;
}

/**
 * The record's ngram_bits carries the kernel layout's 16 bits at offset 36: log2 of the table's rows in
 * the low byte, ngram_flags (NGRAM_FLAG_TLD) in the high one. A collector built before the TLD row refuses
 * such a model (ngram_bits out of range) instead of scoring it without its TLD row.
 */
const NGRAM_FLAGS_SHIFT = 8;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export function modelUpdateOf(m: QuantModel, meta: UpdateMeta): UnsignedModelUpdate {
  const err = modelShapeError(m);
  if (err !== null) throw new StoqError("MODEL_REJECTED", `cannot publish: ${err}`);
  if (m.version > BigInt(2 ** 52 - 1) || m.version < 1n) throw new StoqError("MODEL_REJECTED", `version ${m.version} is outside 1..2^52-1`);
  return {
    model_name: meta.modelName,
    version: Number(m.version),
    feature_spec: m.featureSpec,
    quant_rules: QUANT_RULES,
    created_at_ms: meta.createdAtMs,
    training_metrics: Object.fromEntries(Object.entries(meta.metrics).filter(([, v]) => Number.isFinite(v))),
    n_in: m.nIn,
    n_hidden: m.nHidden,
    in_zero: Array.from(m.inZero.subarray(0, m.nIn)),
    in_mul: Array.from(m.inMul.subarray(0, m.nIn)),
    b1: Array.from(m.b1.subarray(0, m.nHidden)),
    w1: Buffer.from(m.w1.buffer, m.w1.byteOffset, m.nHidden * m.nIn),
    h_mul: m.hMul,
    h_shift: m.hShift,
    w2: Buffer.from(m.w2.buffer, m.w2.byteOffset, m.nHidden),
    b2: m.b2,
    threshold: m.threshold,
    threat_threshold: meta.threatThreshold,
    output_scale: meta.outputScale,
    ngram_bits: m.ngramBits | ((m.ngramTld === true ? NGRAM_FLAG_TLD : 0) << NGRAM_FLAGS_SHIFT),
    ngram_shift: m.ngramShift,
    ngram: Buffer.from(m.ngram.buffer, m.ngram.byteOffset, m.ngram.length),
  };
}

/**
 * Refuses (MODEL_REJECTED, naming both sizes) a signed update whose record under `key` on the model topic
 * would exceed the broker's message.max.bytes: the trainer says so itself instead of the produce failing.
 */
export function assertPublishable(message: Buffer, key: string): void {
  const bytes = message.length + Buffer.byteLength(key) + ONE_RECORD_OVERHEAD_BYTES;
  if (bytes > MESSAGE_MAX_BYTES) {
    throw new StoqError(
      "MODEL_REJECTED",
      `cannot publish: the model update is ${message.length} bytes (a ${bytes}-byte record), over the broker's message.max.bytes of ${MESSAGE_MAX_BYTES}; use fewer hidden units or n-gram bits`,
    );
  }
}

function int32s(name: string, xs: readonly number[], n: number): Int32Array {
  if (xs.length !== n) throw new StoqError("MODEL_REJECTED", `${name} has ${xs.length} values, expected ${n}`);
  for (const v of xs) {
    if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw new StoqError("MODEL_REJECTED", `${name} holds ${v}, not an int32`);
  }
  return Int32Array.from(xs);
}

/**
 * The model a verified update describes, refused (MODEL_REJECTED, naming the field) when it is built for
 * another feature_spec or quantization rules, or has a shape or value the kernel layout cannot hold.
 */
export function quantModelFromUpdate(u: ModelUpdate, featureSpec: number = FEATURE_SPEC): QuantModel {
  if (u.feature_spec !== featureSpec) throw new StoqError("MODEL_REJECTED", `feature_spec ${u.feature_spec}, this build computes ${featureSpec}`);
  if (u.quant_rules !== QUANT_RULES) throw new StoqError("MODEL_REJECTED", `quant_rules ${u.quant_rules}, this build implements ${QUANT_RULES}`);
  if (!Number.isInteger(u.n_in) || u.n_in < 1 || u.n_in > MAX_IN) throw new StoqError("MODEL_REJECTED", `n_in ${u.n_in} is outside 1..${MAX_IN}`);
  if (!Number.isInteger(u.n_hidden) || u.n_hidden < 1 || u.n_hidden > MAX_HIDDEN) {
    throw new StoqError("MODEL_REJECTED", `n_hidden ${u.n_hidden} is outside 1..${MAX_HIDDEN}`);
  }
  if (!Number.isInteger(u.h_shift) || u.h_shift < 1 || u.h_shift > 31) throw new StoqError("MODEL_REJECTED", `h_shift ${u.h_shift} is outside 1..31`);
  if (u.w1.length !== u.n_in * u.n_hidden) throw new StoqError("MODEL_REJECTED", `w1 has ${u.w1.length} bytes, expected ${u.n_in * u.n_hidden}`);
  if (u.w2.length !== u.n_hidden) throw new StoqError("MODEL_REJECTED", `w2 has ${u.w2.length} bytes, expected ${u.n_hidden}`);
  if (u.version < 1) throw new StoqError("MODEL_REJECTED", `version ${u.version} must be positive`);
  const bits = u.ngram_bits & 0xff;
  const flags = u.ngram_bits >>> NGRAM_FLAGS_SHIFT;
  if (!Number.isInteger(u.ngram_bits) || u.ngram_bits < 0 || (bits !== 0 && (bits < NGRAM_MIN_BITS || bits > NGRAM_MAX_BITS))) {
    throw new StoqError("MODEL_REJECTED", `ngram_bits ${u.ngram_bits} is neither 0 nor in ${NGRAM_MIN_BITS}..${NGRAM_MAX_BITS}`);
  }
  if ((flags & ~NGRAM_FLAG_TLD) !== 0 || (flags !== 0 && bits === 0)) {
    throw new StoqError("MODEL_REJECTED", `ngram_bits ${u.ngram_bits}: flags ${flags} are unknown or come without a table`);
  }
  if (!Number.isInteger(u.ngram_shift) || u.ngram_shift < 0 || u.ngram_shift > NGRAM_MAX_SHIFT) {
    throw new StoqError("MODEL_REJECTED", `ngram_shift ${u.ngram_shift} is outside 0..${NGRAM_MAX_SHIFT}`);
  }
  if (bits === 0 && u.ngram_shift !== 0) throw new StoqError("MODEL_REJECTED", `ngram_shift ${u.ngram_shift} without a table (ngram_bits 0)`);
  const cells = bits === 0 ? 0 : 2 ** bits * u.n_hidden;
  if (u.ngram.length !== cells) throw new StoqError("MODEL_REJECTED", `ngram has ${u.ngram.length} bytes, expected 2^ngram_bits * n_hidden = ${cells}`);
  const [hMul, b2, threshold] = int32s("h_mul/b2/threshold", [u.h_mul, u.b2, u.threshold], 3);
  return {
    version: BigInt(u.version),
    featureSpec: u.feature_spec,
    nIn: u.n_in,
    nHidden: u.n_hidden,
    hMul: hMul!,
    hShift: u.h_shift,
    b2: b2!,
    threshold: threshold!,
    inZero: int32s("in_zero", u.in_zero, u.n_in),
    inMul: int32s("in_mul", u.in_mul, u.n_in),
    b1: int32s("b1", u.b1, u.n_hidden),
    w1: Int8Array.from(new Int8Array(u.w1.buffer, u.w1.byteOffset, u.w1.length)),
    w2: Int8Array.from(new Int8Array(u.w2.buffer, u.w2.byteOffset, u.w2.length)),
    ngramBits: bits,
    ngramShift: u.ngram_shift,
    ngram: Int8Array.from(new Int8Array(u.ngram.buffer, u.ngram.byteOffset, u.ngram.length)),
    ...(flags !== 0 ? { ngramTld: true } : {}),
  };
}
