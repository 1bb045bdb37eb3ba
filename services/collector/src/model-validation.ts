// Decides whether a published model update may reach the kernel: signature by a trusted key, the model
// name, feature_spec and quantization rules this build scores with, a newer version, shape and ranges.
// Whoever can write to the topic must not be able to make the kernel drop arbitrary traffic.
import type { KeyObject } from "node:crypto";
import type { ModelUpdate } from "../../../lib/src/avro.js";
import { isStoqError, StoqError } from "../../../lib/src/errors.js";
import { FEATURE_SPEC } from "../../../lib/src/model/features.js";
import { modelShapeError, QUANT_RULES, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { quantModelFromUpdate } from "../../../lib/src/model/model-update.js";
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

// The header's overflow argument holds for |b1|, |b2| < 2^30 (bpf/stoq_model.h).
const BIAS_LIMIT = 2 ** 30;

/** The integer model of a decoded (already verified) update; throws ModelRejected on shape or range. */
export function quantModelOf(u: ModelUpdate): QuantModel {
  let model: QuantModel;
  try {
    model = quantModelFromUpdate(u);
  } catch (e) {
    throw new ModelRejected(/int32|version|ngram_shift/.test(String(e)) ? "range" : "shape", isStoqError(e) ? e.message : String(e));
  }
  const shape = modelShapeError(model);
  if (shape !== null) throw new ModelRejected("shape", shape);
  for (const [name, v] of [["b2", model.b2], ...Array.from(model.b1, (b, i) => [`b1[${i}]`, b] as const)] as const) {
    if (Math.abs(v) >= BIAS_LIMIT) throw new ModelRejected("range", `${name} = ${v}: biases must stay within ±2^30 so int32 accumulators cannot overflow`);
  }
  if (!Number.isFinite(u.output_scale) || u.output_scale <= 0) throw new ModelRejected("range", `output_scale = ${u.output_scale} is not a positive finite number`);
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
