import assert from "node:assert/strict";
import { test } from "node:test";
import { SCHEMA_DIR, decodeAs, modelUpdateSigningPayload, type ModelUpdate } from "../../src/avro.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import avro from "avsc";
import { fingerprintBytes } from "../../src/avro-fingerprint.js";
import { isStoqError } from "../../src/errors.js";
import { modelUpdateOf } from "../../src/model/model-update.js";
import {
  generateSigningKey,
  keyIdOf,
  publicKeyFromPem,
  publicKeyPem,
  signBytes,
  signModelUpdate,
  verifyBytes,
  verifyModelUpdate,
} from "../../src/model/signing.js";
import type { QuantModel } from "../../src/model/int8-mlp.js";

const model: QuantModel = {
  version: 42n,
  featureSpec: 1,
  nIn: 2,
  nHidden: 3,
  hMul: 12345,
  hShift: 20,
  b2: -7,
  threshold: 100,
  inZero: Int32Array.of(1, -2),
  inMul: Int32Array.of(65536, 1000),
  b1: Int32Array.of(5, 6, 7),
  w1: Int8Array.of(1, -1, 2, -2, 127, -127),
  w2: Int8Array.of(3, -4, 5),
  ngramBits: 0,
  ngramShift: 0,
  ngram: new Int8Array(0),
};
const meta = { modelName: "dns-query", createdAtMs: 1_700_000_000_000, threatThreshold: 0.85, outputScale: 0.001, metrics: { auc: 0.99, bad: NaN } };

test("raw Ed25519: verifies, fails on one flipped bit, fails with another key, refuses a short signature", () => {
  const k = generateSigningKey();
  const other = generateSigningKey();
  const msg = Buffer.from("canonical bytes");
  const sig = signBytes(msg, k);
  assert.equal(sig.length, 64);
  assert.equal(verifyBytes(msg, sig, k.publicKey), true);
  const tampered = Buffer.from(msg);
  tampered[0]! ^= 1;
  assert.equal(verifyBytes(tampered, sig, k.publicKey), false);
  assert.equal(verifyBytes(msg, sig, other.publicKey), false);
  assert.equal(verifyBytes(msg, sig.subarray(0, 63), k.publicKey), false);
  assert.match(k.keyId, /^[0-9a-f]{16}$/);
  assert.notEqual(k.keyId, other.keyId);
});

test("a signed ModelUpdate verifies and round-trips the model; NaN metrics are dropped", () => {
  const k = generateSigningKey();
  const msg = signModelUpdate(modelUpdateOf(model, meta), k);
  const u = verifyModelUpdate(msg, [generateSigningKey().publicKey, k.publicKey]);
  assert.equal(u.signing_key_id, k.keyId);
  assert.equal(u.version, 42);
  assert.deepEqual(u.training_metrics, { auc: 0.99 });
  assert.deepEqual(Array.from(new Int8Array(u.w1.buffer, u.w1.byteOffset, u.w1.length)), Array.from(model.w1));
  // The signature covers exactly the canonical payload of the avro module.
  const { signature, ...rest } = decodeAs<ModelUpdate>("ModelUpdate", msg);
  assert.equal(verifyBytes(modelUpdateSigningPayload(rest), signature, k.publicKey), true);
});

test("a tampered, re-keyed or foreign update is rejected with MODEL_REJECTED", () => {
  const k = generateSigningKey();
  const msg = signModelUpdate(modelUpdateOf(model, meta), k);
  // Flip a byte inside w1 (a field the signature covers): decodes, but must not verify.
  const tampered = Buffer.from(msg);
  const at = tampered.indexOf(Buffer.from(Int8Array.of(1, -1, 2, -2, 127, -127).buffer));
  assert.ok(at > 0);
  tampered[at + 4] = 0x7e;
  assert.throws(() => verifyModelUpdate(tampered, [k.publicKey]), (e) => isStoqError(e, "MODEL_REJECTED") && /bad signature/.test(e.message));
  // Signed by a key the collector does not hold.
  assert.throws(() => verifyModelUpdate(msg, [generateSigningKey().publicKey]), /unknown key/);
  // An attacker's key under the trusted key id: the signature does not verify.
  const attacker = generateSigningKey();
  const forged = signModelUpdate(modelUpdateOf(model, meta), { ...attacker, keyId: k.keyId });
  assert.throws(() => verifyModelUpdate(forged, [k.publicKey]), /bad signature/);
  assert.throws(() => verifyModelUpdate(Buffer.from("not avro"), [k.publicKey]), (e) => isStoqError(e, "MODEL_REJECTED"));
});

test("the signature covers the n-gram table and its bits and shift; an update written before they existed still verifies", () => {
  const k = generateSigningKey();
  const withTable = { ...model, ngramBits: 6, ngramShift: 3, ngram: Int8Array.from({ length: 64 * 3 }, (_, i) => ((i * 7) % 256) - 128) };
  const msg = signModelUpdate(modelUpdateOf(withTable, meta), k);
  const u = verifyModelUpdate(msg, [k.publicKey]);
  assert.deepEqual(Array.from(new Int8Array(u.ngram.buffer, u.ngram.byteOffset, u.ngram.length)), Array.from(withTable.ngram));
  const table = Buffer.from(withTable.ngram.buffer);
  const at = msg.indexOf(table);
  assert.ok(at > 0);
  for (const offset of [0, 100, table.length - 1]) {
    const tampered = Buffer.from(msg);
    tampered[at + offset]! ^= 0x01;
    assert.throws(() => verifyModelUpdate(tampered, [k.publicKey]), /bad signature/, `table byte ${offset}`);
  }
  // bits and shift are the zigzag varints just before the table's length: 6 -> 0x0c, 3 -> 0x06.
  const shiftAt = at - 3;
  assert.deepEqual([msg[shiftAt - 1], msg[shiftAt]], [0x0c, 0x06]);
  const shifted = Buffer.from(msg);
  shifted[shiftAt] = 0x08;
  assert.throws(() => verifyModelUpdate(shifted, [k.publicKey]), /bad signature/);
  // A record signed as ModelUpdate v1 (before the table existed) verifies and reads with the defaults.
  const v1 = JSON.parse(readFileSync(join(SCHEMA_DIR, "history", "ModelUpdate", "v1.avsc"), "utf8")) as avro.Schema;
  const writer = avro.Type.forSchema(v1);
  const { ngram_bits: _b, ngram_shift: _s, ngram: _n, ...old } = { ...modelUpdateOf(model, meta), signing_key_id: k.keyId };
  const header = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytes(v1)]);
  const unsignedBody = writer.toBuffer({ ...old, signature: Buffer.alloc(0) });
  const signature = signBytes(Buffer.concat([header, unsignedBody.subarray(0, unsignedBody.length - 1)]), k);
  const v1Message = Buffer.concat([header, writer.toBuffer({ ...old, signature })]);
  const read = verifyModelUpdate(v1Message, [k.publicKey]);
  assert.deepEqual([read.ngram_bits, read.ngram_shift, read.ngram.length], [0, 0, 0]);
  assert.equal(read.version, 42);
});

test("a public key survives PEM export and import with the same key id", () => {
  const k = generateSigningKey();
  assert.equal(keyIdOf(publicKeyFromPem(publicKeyPem(k.publicKey))), k.keyId);
});
