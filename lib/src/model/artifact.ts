// The shipped model file (models/<name>.json): the signed ModelUpdate message the trainer published,
// the float twin for "float" evaluation, and the validation figures; read by the evaluation, the
// detector's per-name classifiers and whoever publishes the shipped model.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { KeyObject } from "node:crypto";
import { openModelUpdate, type ModelUpdate } from "../avro.js";
import { StoqError } from "../errors.js";
import type { FloatModel, InputCalibration } from "./float-mlp.js";
import type { QuantModel } from "./int8-mlp.js";
import { quantModelFromUpdate } from "./model-update.js";
import { verifyModelUpdate } from "./signing.js";

export const MODELS_DIR = fileURLToPath(new URL("../../../models/", import.meta.url));
export const DNS_QUERY_MODEL = `${MODELS_DIR}dns-query.json`;
export const DEV_PUBLIC_KEY = `${MODELS_DIR}dev-signing-key.pub.pem`;

/** The float twin as stored: the n-gram table as little-endian float32 bytes in base64 (JSON numbers would take 3x). */
export type FloatModelFile = Omit<FloatModel, "ngram"> & { ngram_f32_base64: string };

export interface ModelArtifactFile {
  model_name: string;
  /** The signed ModelUpdate message (single-object Avro), base64. */
  update_base64: string;
  float: FloatModelFile;
  /** Validation and held-out figures at training time. */
  metrics: Record<string, number>;
  /** How it was trained (data, options), for the record. */
  training: Record<string, unknown>;
}

export interface LoadedModel {
  update: ModelUpdate;
  /** The signed message as published on stoq.model-updates.v1. */
  message: Buffer;
  quant: QuantModel;
  float: FloatModel;
  calibration: InputCalibration;
  outputScale: number;
  threatThreshold: number;
  file: ModelArtifactFile;
}

export function floatModelFile(m: FloatModel): FloatModelFile {
  const { ngram, ...rest } = m;
  const le = Buffer.alloc(ngram.length * 4);
  ngram.forEach((v, i) => le.writeFloatLE(v, i * 4));
  return { ...rest, ngram_f32_base64: le.toString("base64") };
}

function floatModelOf(f: FloatModelFile): FloatModel {
  const { ngram_f32_base64: b64, ...rest } = f;
  const le = Buffer.from(b64 ?? "", "base64");
  const ngram = new Float32Array(le.length >> 2);
  for (let i = 0; i < ngram.length; i++) ngram[i] = le.readFloatLE(i * 4);
  return { ...rest, ngramBits: rest.ngramBits ?? 0, ngram };
}

export function writeModelArtifact(path: string, file: ModelArtifactFile): void {
  writeFileSync(path, JSON.stringify(file, null, 1) + "\n");
}

/**
 * Reads a model file. With `trusted` keys the signature must verify; without, the message must still
 * decode and the float twin must match the update's shape.
 */
export function loadModelArtifact(path: string = DNS_QUERY_MODEL, trusted?: readonly KeyObject[]): LoadedModel {
  let file: ModelArtifactFile;
  try {
    file = JSON.parse(readFileSync(path, "utf8")) as ModelArtifactFile;
  } catch (cause) {
    throw new StoqError("MODEL_REJECTED", `cannot read model file ${path}: train one with npm run train`, { cause });
  }
  const message = Buffer.from(file.update_base64 ?? "", "base64");
  const update = trusted === undefined ? openModelUpdate(message).update : verifyModelUpdate(message, trusted);
  const quant = quantModelFromUpdate(update);
  if (file.float === undefined) throw new StoqError("MODEL_REJECTED", `${path}: no float twin`);
  const f = floatModelOf(file.float);
  const cells = f.ngramBits === 0 ? 0 : (1 << f.ngramBits) * f.nHidden;
  if (f.nIn !== quant.nIn || f.nHidden !== quant.nHidden || f.w1?.length !== quant.nIn * quant.nHidden || f.ngramBits !== quant.ngramBits || (f.ngramTld === true) !== (quant.ngramTld === true) || f.ngram.length !== cells) {
    throw new StoqError("MODEL_REJECTED", `${path}: the float twin does not match the quantized model's shape`);
  }
  return {
    update,
    message,
    quant,
    float: f,
    calibration: { nIn: quant.nIn, inZero: quant.inZero, inMul: quant.inMul },
    outputScale: update.output_scale,
    threatThreshold: update.threat_threshold,
    file,
  };
}
