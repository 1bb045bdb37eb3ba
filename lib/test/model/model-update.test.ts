import assert from "node:assert/strict";
import { test } from "node:test";
import type { ModelUpdate } from "../../src/avro.js";
import { isStoqError } from "../../src/errors.js";
import { assertPublishable, modelUpdateOf, quantModelFromUpdate } from "../../src/model/model-update.js";
import type { QuantModel } from "../../src/model/int8-mlp.js";
import { generateSigningKey, signModelUpdate } from "../../src/model/signing.js";
import { MESSAGE_MAX_BYTES } from "../../src/topics.js";

const model: QuantModel = {
  version: 7n,
  featureSpec: 1,
  nIn: 2,
  nHidden: 1,
  hMul: 3,
  hShift: 4,
  b2: 5,
  threshold: 6,
  inZero: Int32Array.of(1, 2),
  inMul: Int32Array.of(3, 4),
  b1: Int32Array.of(9),
  w1: Int8Array.of(-1, 1),
  w2: Int8Array.of(-128),
  ngramBits: 0,
  ngramShift: 0,
  ngram: new Int8Array(0),
};
const meta = { modelName: "m", createdAtMs: 1, threatThreshold: 0.85, outputScale: 0.5, metrics: {} };

function update(over: Partial<ModelUpdate> = {}): ModelUpdate {
  return { ...modelUpdateOf(model, meta), signing_key_id: "k", signature: Buffer.alloc(64), ...over };
}

const tableModel: QuantModel = {
  ...model,
  nHidden: 3,
  b1: Int32Array.of(9, -9, 0),
  w1: Int8Array.of(-1, 1, 2, -2, 3, -3),
  w2: Int8Array.of(-128, 127, 0),
  ngramBits: 6,
  ngramShift: 16,
  ngram: Int8Array.from({ length: 64 * 3 }, (_, i) => (i % 256) - 128),
};

test("model -> update -> model is the identity, with and without an n-gram table", () => {
  assert.deepEqual(quantModelFromUpdate(update()), model);
  const u = { ...modelUpdateOf(tableModel, meta), signing_key_id: "k", signature: Buffer.alloc(64) };
  assert.deepEqual([u.ngram_bits, u.ngram_shift, u.ngram.length], [6, 16, 192]);
  assert.deepEqual(quantModelFromUpdate(u), tableModel);
  const withTld = { ...tableModel, ngramTld: true };
  const t = { ...modelUpdateOf(withTld, meta), signing_key_id: "k", signature: Buffer.alloc(64) };
  assert.equal(t.ngram_bits, 6 + 256, "the TLD flag rides in ngram_bits' high byte, as in the kernel layout");
  assert.deepEqual(quantModelFromUpdate(t), withTld);
});

test("TLD flag: unknown flags or a flag without a table are refused", () => {
  const u = { ...modelUpdateOf(tableModel, meta), signing_key_id: "k", signature: Buffer.alloc(64) };
  assert.throws(() => quantModelFromUpdate({ ...u, ngram_bits: 6 + 512 }), /flags 2/);
  assert.throws(() => quantModelFromUpdate({ ...update(), ngram_bits: 256 }), /flags 1/);
  assert.throws(() => modelUpdateOf({ ...model, ngramTld: true }, meta), /TLD row without a table/);
});

test("an update of the wrong shape, spec or range is refused, naming the field", () => {
  const cases: [Partial<ModelUpdate>, RegExp][] = [
    [{ feature_spec: 2 }, /feature_spec 2/],
    [{ quant_rules: 2 }, /quant_rules 2/],
    [{ n_in: 33 }, /n_in 33/],
    [{ n_hidden: 65 }, /n_hidden 65/],
    [{ h_shift: 0 }, /h_shift 0/],
    [{ h_shift: 32 }, /h_shift 32/],
    [{ w1: Buffer.alloc(3) }, /w1 has 3 bytes/],
    [{ w2: Buffer.alloc(2) }, /w2 has 2 bytes/],
    [{ in_zero: [1] }, /in_zero has 1 values/],
    [{ b1: [2 ** 31] }, /b1 holds 2147483648/],
    [{ h_mul: 1.5 }, /h_mul\/b2\/threshold holds 1.5/],
    [{ version: 0 }, /version 0/],
    [{ ngram_bits: 5, ngram: Buffer.alloc(32) }, /ngram_bits 5 is neither 0 nor in 6\.\.14/],
    [{ ngram_bits: 15, ngram: Buffer.alloc(2 ** 15) }, /ngram_bits 15/],
    [{ ngram_bits: 6.5 }, /ngram_bits 6.5/],
    [{ ngram_bits: 6, ngram_shift: 17, ngram: Buffer.alloc(64) }, /ngram_shift 17 is outside 0\.\.16/],
    [{ ngram_shift: 1 }, /ngram_shift 1 without a table/],
    [{ ngram_bits: 6, ngram: Buffer.alloc(63) }, /ngram has 63 bytes, expected 2\^ngram_bits \* n_hidden = 64/],
    [{ ngram: Buffer.alloc(1) }, /ngram has 1 bytes, expected .* = 0/],
  ];
  for (const [over, re] of cases) {
    assert.throws(() => quantModelFromUpdate(update(over)), (e) => isStoqError(e, "MODEL_REJECTED") && re.test(e.message), JSON.stringify(over));
  }
});

test("a 2^14-row table of 32 units fits the broker's message.max.bytes; 64 units is refused, naming both sizes", () => {
  const key = generateSigningKey();
  const signed = (nHidden: number): Buffer => {
    const m: QuantModel = {
      ...model,
      nIn: 16,
      nHidden,
      inZero: new Int32Array(16),
      inMul: new Int32Array(16),
      b1: new Int32Array(nHidden),
      w1: new Int8Array(16 * nHidden),
      w2: new Int8Array(nHidden),
      ngramBits: 14,
      ngramShift: 4,
      ngram: new Int8Array((1 << 14) * nHidden),
    };
    const metrics = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`some_training_metric_${i}`, i / 7]));
    return signModelUpdate(modelUpdateOf(m, { ...meta, modelName: "stoq-threat", metrics }), key);
  };
  const shipped = signed(32);
  assert.ok(shipped.length > 512 * 1024 && shipped.length < MESSAGE_MAX_BYTES / 2 + 4096, String(shipped.length));
  assertPublishable(shipped, "stoq-threat");
  const wide = signed(64);
  assert.throws(
    () => assertPublishable(wide, "stoq-threat"),
    (e: unknown) => isStoqError(e) && e.code === "MODEL_REJECTED" && e.message.includes(`${wide.length} bytes`) && e.message.includes(String(MESSAGE_MAX_BYTES)),
  );
});
