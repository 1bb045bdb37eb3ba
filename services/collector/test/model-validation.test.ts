// A model update reaches the kernel only when signed by a trusted key, for this model, feature_spec and
// quantization rules, newer than what is applied, and within the layout's shape and ranges.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeAs, encode, type ModelUpdate } from "../../../lib/src/avro.js";
import { FEATURE_SPEC } from "../../../lib/src/model/features.js";
import type { QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { modelUpdateOf, type UnsignedModelUpdate } from "../../../lib/src/model/model-update.js";
import { generateSigningKey, signModelUpdate, type SigningKey } from "../../../lib/src/model/signing.js";
import { acceptModelUpdate, ModelRejected, type RejectReason } from "../src/model-validation.js";

const NAME = "stoq-threat";

function model(version: bigint, nIn = 16, nHidden = 8, ngramBits = 0): QuantModel {
  return {
    version, featureSpec: FEATURE_SPEC, nIn, nHidden, hMul: 1 << 14, hShift: 20, b2: -5, threshold: 100,
    inZero: new Int32Array(nIn).fill(3), inMul: new Int32Array(nIn).fill(1 << 12), b1: new Int32Array(nHidden).fill(7),
    w1: Int8Array.from({ length: nIn * nHidden }, (_, i) => ((i * 37) % 255) - 127), w2: Int8Array.from({ length: nHidden }, (_, i) => i - 4),
    ngramBits, ngramShift: ngramBits === 0 ? 0 : 4,
    ngram: Int8Array.from({ length: ngramBits === 0 ? 0 : (1 << ngramBits) * nHidden }, (_, i) => ((i * 91) % 256) - 128),
  };
}

function unsigned(version: bigint, patch: Partial<UnsignedModelUpdate> = {}, ngramBits = 0): UnsignedModelUpdate {
  const meta = { modelName: NAME, createdAtMs: 1_700_000_000_000, threatThreshold: 0.85, outputScale: 0.01, metrics: { auc: 0.99 } };
  return { ...modelUpdateOf(model(version, 16, 8, ngramBits), meta), ...patch };
}

function rejectedWith(reason: RejectReason, message: Buffer, keys: SigningKey[], current = 0n): void {
  assert.throws(() => acceptModelUpdate(message, keys.map((k) => k.publicKey), NAME, current), (e: unknown) => {
    assert.ok(e instanceof ModelRejected, String(e));
    assert.equal(e.reason, reason, e.message);
    return true;
  });
}

const trusted = generateSigningKey();
const other = generateSigningKey();

test("a signed, newer, well-formed update is accepted with the exact integers it carries", () => {
  const { update, model: m } = acceptModelUpdate(signModelUpdate(unsigned(5n), trusted), [trusted.publicKey], NAME, 4n);
  assert.equal(update.version, 5);
  assert.equal(m.version, 5n);
  assert.deepEqual(Array.from(m.w1), Array.from(model(5n).w1));
  assert.equal(m.threshold, 100);
});

test("an n-gram table travels in the update and comes out as the model's table, byte for byte", () => {
  const { model: m } = acceptModelUpdate(signModelUpdate(unsigned(5n, {}, 10), trusted), [trusted.publicKey], NAME, 4n);
  assert.equal(m.ngramBits, 10);
  assert.equal(m.ngramShift, 4);
  assert.deepEqual(m.ngram, model(5n, 16, 8, 10).ngram);
  const { model: plain } = acceptModelUpdate(signModelUpdate(unsigned(6n), trusted), [trusted.publicKey], NAME, 5n);
  assert.deepEqual([plain.ngramBits, plain.ngramShift, plain.ngram.length], [0, 0, 0]);
});

test("an update signed by another key is rejected", () => rejectedWith("bad_signature", signModelUpdate(unsigned(5n), other), [trusted]));

test("an unsigned update (empty signature) is rejected", () => {
  const signed = decodeAs<ModelUpdate>("ModelUpdate", signModelUpdate(unsigned(5n), trusted));
  rejectedWith("bad_signature", encode("ModelUpdate", { ...signed, signature: Buffer.alloc(0) }), [trusted]);
});

test("tampered bytes break the signature", () => {
  const signed = decodeAs<ModelUpdate>("ModelUpdate", signModelUpdate(unsigned(5n), trusted));
  const w1 = Buffer.from(signed.w1);
  w1[0] = w1[0]! ^ 0x40;
  rejectedWith("bad_signature", encode("ModelUpdate", { ...signed, w1 }), [trusted]);
  const withTable = decodeAs<ModelUpdate>("ModelUpdate", signModelUpdate(unsigned(5n, {}, 8), trusted));
  const ngram = Buffer.from(withTable.ngram);
  ngram[ngram.length - 1] = ngram[ngram.length - 1]! ^ 0x01;
  rejectedWith("bad_signature", encode("ModelUpdate", { ...withTable, ngram }), [trusted]);
  rejectedWith("bad_signature", encode("ModelUpdate", { ...withTable, ngram_shift: withTable.ngram_shift + 1 }), [trusted]);
});

test("bytes that are not a model update are rejected as undecodable", () => rejectedWith("undecodable", Buffer.from("not avro at all"), [trusted]));

test("an older or equal version is rejected and the applied one kept", () => {
  rejectedWith("stale_version", signModelUpdate(unsigned(5n), trusted), [trusted], 5n);
  rejectedWith("stale_version", signModelUpdate(unsigned(3n), trusted), [trusted], 5n);
});

test("another model name, feature_spec or quantization rule set is rejected", () => {
  rejectedWith("wrong_model", signModelUpdate(unsigned(5n, { model_name: "other" }), trusted), [trusted]);
  rejectedWith("feature_spec", signModelUpdate(unsigned(5n, { feature_spec: FEATURE_SPEC + 1 }), trusted), [trusted]);
  rejectedWith("quant_rules", signModelUpdate(unsigned(5n, { quant_rules: 99 }), trusted), [trusted]);
});

test("wrong shapes are rejected: weights that do not fill n_in x n_hidden, too many inputs", () => {
  const u = unsigned(5n);
  rejectedWith("shape", signModelUpdate({ ...u, w1: u.w1.subarray(1) }, trusted), [trusted]);
  rejectedWith("shape", signModelUpdate({ ...u, n_in: 33 }, trusted), [trusted]);
  rejectedWith("shape", signModelUpdate({ ...u, h_shift: 0 }, trusted), [trusted]);
});

test("bad n-gram tables are rejected: bits outside 0 or 6..14, a length that is not 2^bits x n_hidden, a shift too large", () => {
  const u = unsigned(5n, {}, 8);
  rejectedWith("shape", signModelUpdate({ ...u, ngram: u.ngram.subarray(1) }, trusted), [trusted]);
  rejectedWith("shape", signModelUpdate({ ...u, ngram: Buffer.concat([u.ngram, u.ngram]) }, trusted), [trusted]);
  rejectedWith("shape", signModelUpdate({ ...u, ngram_bits: 9 }, trusted), [trusted]);
  rejectedWith("shape", signModelUpdate({ ...u, ngram_bits: 5, ngram: u.ngram.subarray(0, 32 * 8) }, trusted), [trusted]);
  rejectedWith("shape", signModelUpdate({ ...u, ngram_bits: 15, ngram: Buffer.alloc(2 ** 15 * 8) }, trusted), [trusted]);
  rejectedWith("shape", signModelUpdate({ ...u, ngram_bits: 0, ngram_shift: 0 }, trusted), [trusted]);
  rejectedWith("range", signModelUpdate({ ...u, ngram_shift: 17 }, trusted), [trusted]);
  rejectedWith("range", signModelUpdate({ ...u, ngram_shift: -1 }, trusted), [trusted]);
  rejectedWith("range", signModelUpdate({ ...unsigned(5n), ngram_shift: 2 }, trusted), [trusted]);
});

test("out-of-range and non-finite values are rejected", () => {
  const u = unsigned(5n);
  rejectedWith("range", signModelUpdate({ ...u, b1: u.b1.map((v, i) => (i === 0 ? 2 ** 30 : v)) }, trusted), [trusted]);
  rejectedWith("range", signModelUpdate({ ...u, output_scale: Number.NaN }, trusted), [trusted]);
  rejectedWith("range", signModelUpdate({ ...u, b2: -(2 ** 30) }, trusted), [trusted]);
  rejectedWith("range", signModelUpdate({ ...u, output_scale: -1 }, trusted), [trusted]);
});
