// Decides whether a published model update may reach the kernel: signature by a trusted key, the model
// name, feature_spec and quantization rules this build scores with, a newer version, shape and ranges.
// Whoever can write to the topic must not be able to make the kernel drop arbitrary traffic.
import type { KeyObject } from "node:crypto";
import type { ModelUpdate } from "../../../lib/src/avro.js";
import { isStoqError, StoqError } from "../../../lib/src/errors.js";
import { FEATURE_SPEC } from "../../../lib/src/model/features.js";
import { MAX_HIDDEN, MAX_IN, modelShapeError, QUANT_RULES, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { verifyModelUpdate } from "../../../lib/src/model/signing.js";

/** Why an update was refused; the label of `stoq_model_updates_total{result=...}`. */
export const REJECT_REASONS = [
  "undecodable",
  "bad_signature",
  "wrong_model",
  "feature_spec",
  "quant_rules",
  "stale_version",
  "shape",
  "range",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export class ModelRejected extends StoqError {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super("MODEL_REJECTED", message);
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
// The header's overflow argument holds for |b1|, |b2| < 2^30 (bpf/stoq_model.h).
const BIAS_LIMIT = 2 ** 30;

function int32s(name: string, values: readonly number[], expected: number, lo = INT32_MIN, hi = INT32_MAX): Int32Array {
  if (values.length !== expected) throw new ModelRejected("shape", `${name} has ${values.length} values, expected ${expected}`);
  const out = new Int32Array(expected);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new ModelRejected("range", `${name}[${i}] = ${v} is not an integer in [${lo}, ${hi}]`);
    out[i] = v;
  });
  return out;
}

function int8s(name: string, bytes: Buffer, expected: number): Int8Array {
  if (bytes.length !== expected) throw new ModelRejected("shape", `${name} has ${bytes.length} weights, expected ${expected}`);
  return new Int8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function scalar(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new ModelRejected("range", `${name} = ${v} is not an integer in [${lo}, ${hi}]`);
  return v;
}

/** The integer model of a decoded (already verified) update; throws ModelRejected on shape or range. */
export function quantModelOf(u: ModelUpdate): QuantModel {
  const nIn = scalar("n_in", u.n_in, 1, MAX_IN);
  const nHidden = scalar("n_hidden", u.n_hidden, 1, MAX_HIDDEN);
  if (!Number.isFinite(u.output_scale) || u.output_scale <= 0) throw new ModelRejected("range", `output_scale = ${u.output_scale} is not a positive finite number`);
  const model: QuantModel = {
    version: BigInt(u.version),
    featureSpec: u.feature_spec,
    nIn,
    nHidden,
    hMul: scalar("h_mul", u.h_mul, INT32_MIN, INT32_MAX),
    hShift: scalar("h_shift", u.h_shift, 1, 31),
    b2: scalar("b2", u.b2, -BIAS_LIMIT + 1, BIAS_LIMIT - 1),
    threshold: scalar("threshold", u.threshold, INT32_MIN, INT32_MAX),
    inZero: int32s("in_zero", u.in_zero, nIn),
    inMul: int32s("in_mul", u.in_mul, nIn),
    b1: int32s("b1", u.b1, nHidden, -BIAS_LIMIT + 1, BIAS_LIMIT - 1),
    w1: int8s("w1", u.w1, nIn * nHidden),
    w2: int8s("w2", u.w2, nHidden),
  };
  const shape = modelShapeError(model);
  if (shape !== null) throw new ModelRejected("shape", shape);
  return model;
}

export interface Accepted {
  readonly update: ModelUpdate;
  readonly model: QuantModel;
}

/**
 * Verifies and validates one message of the model topic against the trusted keys and the version the
 * kernel already has. Throws ModelRejected with the reason; never returns a model it would not score.
 */
export function acceptModelUpdate(message: Buffer, trusted: readonly KeyObject[], modelName: string, currentVersion: bigint): Accepted {
  let update: ModelUpdate;
  try {
    update = verifyModelUpdate(message, trusted);
  } catch (e) {
    const undecodable = isStoqError(e) && /does not decode/.test(e.message);
    throw new ModelRejected(undecodable ? "undecodable" : "bad_signature", isStoqError(e) ? e.message : String(e));
  }
  const what = `model ${update.model_name} v${update.version}`;
  if (update.model_name !== modelName) throw new ModelRejected("wrong_model", `${what}: this collector applies ${modelName}`);
  if (update.feature_spec !== FEATURE_SPEC) {
    throw new ModelRejected("feature_spec", `${what}: feature_spec ${update.feature_spec}, this build computes ${FEATURE_SPEC}`);
  }
  if (update.quant_rules !== QUANT_RULES) {
    throw new ModelRejected("quant_rules", `${what}: quant_rules ${update.quant_rules}, the kernel implements ${QUANT_RULES}`);
  }
  if (BigInt(update.version) <= currentVersion) {
    throw new ModelRejected("stale_version", `${what}: not newer than the applied v${currentVersion}`);
  }
  return { update, model: quantModelOf(update) };
}
