import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_HIDDEN, MAX_IN, score, type QuantModel } from "../../src/model/int8-mlp.js";
import {
  CONTROL_LAYOUT,
  MODEL_LAYOUT,
  NGRAM_ROW_BYTES,
  NGRAM_SLOT_ROWS,
  decodeControl,
  decodeModel,
  encodeControl,
  encodeModel,
  encodeNgramRows,
  ngramKeys,
} from "../../src/model/layout.js";
import { encodeName } from "../../src/model/features.js";
import { ngramRows } from "../../src/model/ngrams.js";

function randomModel(seed: number, nIn: number, nHidden: number, ngramBits = 0): QuantModel {
  let s = seed >>> 0;
  const r = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const i32 = (): number => r() | 0;
  const i8 = (): number => ((r() >>> 24) << 24) >> 24;
  return {
    version: BigInt(r()) << 20n,
    featureSpec: 1,
    nIn,
    nHidden,
    hMul: i32(),
    hShift: 1 + (r() % 31),
    b2: i32(),
    threshold: i32(),
    inZero: Int32Array.from({ length: nIn }, i32),
    inMul: Int32Array.from({ length: nIn }, i32),
    b1: Int32Array.from({ length: nHidden }, i32),
    w1: Int8Array.from({ length: nIn * nHidden }, i8),
    w2: Int8Array.from({ length: nHidden }, i8),
    ngramBits,
    ngramShift: ngramBits === 0 ? 0 : r() % 17,
    ngram: Int8Array.from({ length: ngramBits === 0 ? 0 : (1 << ngramBits) * nHidden }, i8),
  };
}

test("struct stoq_model: offsets follow the C declaration order and natural alignment", () => {
  const f = MODEL_LAYOUT.fields;
  const order = Object.values(f);
  for (let k = 1; k < order.length; k++) assert.equal(order[k]!.offset, order[k - 1]!.offset + order[k - 1]!.size);
  assert.equal(f.w2.offset + f.w2.size, MODEL_LAYOUT.size);
  assert.equal(MODEL_LAYOUT.size % 8, 0);
  assert.equal(f.in_zero.offset % 8, 0);
  assert.equal(MODEL_LAYOUT.size, 2664);
  assert.equal(CONTROL_LAYOUT.size, 16);
});

test("model bytes: every field at its offset, little-endian, unused entries zero", () => {
  const m = randomModel(7, 3, 2);
  const b = encodeModel(m);
  const f = MODEL_LAYOUT.fields;
  assert.equal(b.length, 2664);
  assert.equal(b.readBigUInt64LE(0), m.version);
  assert.equal(b.readUInt32LE(f.n_in.offset), 3);
  assert.equal(b.readUInt32LE(f.n_hidden.offset), 2);
  assert.equal(b.readInt32LE(f.h_mul.offset), m.hMul);
  assert.equal(b.readUInt32LE(f.h_shift.offset), m.hShift);
  assert.equal(b.readInt32LE(f.threshold.offset), m.threshold);
  assert.equal(b.readUInt32LE(f.ngram_bits.offset), 0, "ngram_bits and ngram_shift are 0 without a table");
  const t = encodeModel(randomModel(7, 3, 2, 9));
  assert.equal(t.readUInt16LE(f.ngram_bits.offset), 9, "ngram_bits 9, ngram_flags 0");
  const tld = encodeModel({ ...randomModel(7, 3, 2, 9), ngramTld: true });
  assert.deepEqual([tld.readUInt8(f.ngram_bits.offset), tld.readUInt8(f.ngram_flags.offset)], [9, 1]);
  assert.equal(t.readUInt16LE(f.ngram_shift.offset), randomModel(7, 3, 2, 9).ngramShift);
  assert.equal(b.readInt32LE(f.in_mul.offset + 8), m.inMul[2]);
  assert.equal(b.readInt32LE(f.in_mul.offset + 12), 0);
  assert.equal(b.readInt32LE(f.b1.offset + 4), m.b1[1]);
  // w1 row j starts at j * 32 in the layout, at j * n_in in the packed array
  assert.equal(b.readInt8(f.w1.offset + MAX_IN + 2), m.w1[1 * 3 + 2]);
  assert.equal(b.readInt8(f.w1.offset + MAX_IN + 3), 0);
  assert.equal(b.readInt8(f.w2.offset + 1), m.w2[1]);
  assert.equal(b.readInt8(f.w2.offset + 2), 0);
});

test("model round trip at the limits scores identically", () => {
  for (const [nIn, nHidden] of [
    [1, 1],
    [16, 32],
    [MAX_IN, MAX_HIDDEN],
  ] as const) {
    const m = randomModel(nIn * 100 + nHidden, nIn, nHidden);
    const back = decodeModel(encodeModel(m));
    assert.deepEqual(back, m);
    const fv = Array.from({ length: nIn }, (_, i) => (i * 7919) % 1000);
    assert.equal(score(back, fv, null), score(m, fv, null));
    const t = randomModel(nIn * 100 + nHidden + 1, nIn, nHidden, 8);
    const backT = decodeModel(encodeModel(t), encodeNgramRows(t));
    assert.deepEqual(backT, t);
    const tTld = { ...t, ngramTld: true };
    assert.deepEqual(decodeModel(encodeModel(tTld), encodeNgramRows(tTld)), tTld);
    const rows = ngramRows(encodeName("x7k2q9zt1vb8.example.net")!, 8);
    assert.equal(score(backT, fv, rows), score(t, fv, rows));
  }
});

test("n-gram rows: 2^bits map values of 64 bytes, unit j at byte j, zero past n_hidden; keys slot * 2^14 + row", () => {
  const m = randomModel(3, 4, 5, 6);
  const rows = encodeNgramRows(m);
  assert.equal(rows.length, 64);
  for (let r = 0; r < 64; r++) {
    assert.equal(rows[r]!.length, NGRAM_ROW_BYTES);
    for (let j = 0; j < NGRAM_ROW_BYTES; j++) assert.equal(rows[r]!.readInt8(j), j < 5 ? m.ngram[r * 5 + j] : 0, `row ${r} byte ${j}`);
  }
  assert.equal(encodeNgramRows(randomModel(3, 4, 5)).length, 0);
  assert.equal(encodeNgramRows(randomModel(3, 4, MAX_HIDDEN, 14)).length, NGRAM_SLOT_ROWS);
  const keys = ngramKeys(2, 3);
  assert.deepEqual(keys.map((k) => k.readUInt32LE(0)), [2 * 16384, 2 * 16384 + 1, 2 * 16384 + 2]);
  assert.throws(() => encodeNgramRows({ ...m, ngram: m.ngram.subarray(1) }), /n-gram table cannot be laid out/);
});

test("a model of the wrong shape or a value of the wrong size is refused", () => {
  assert.throws(() => encodeModel(randomModel(1, 33, 2)), /n_in 33/);
  assert.throws(() => decodeModel(new Uint8Array(2663)), /2664 bytes/);
  assert.throws(() => decodeControl(new Uint8Array(8)), /16 bytes/);
});

test("control round trip", () => {
  const c = { active: 1, mode: 2, shadow: 1 };
  const b = encodeControl(c);
  assert.deepEqual(Array.from(b), [1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(decodeControl(b), c);
});
