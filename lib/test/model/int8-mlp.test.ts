import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeName } from "../../src/model/features.js";
import {
  NGRAM_MAX_SHIFT,
  hiddenLayer,
  isThreat,
  modelShapeError,
  ngramRowsFor,
  ngramSums,
  quantizeInputs,
  score,
  type QuantModel,
} from "../../src/model/int8-mlp.js";
import { ngramRows } from "../../src/model/ngrams.js";

function model(over: Partial<QuantModel> = {}): QuantModel {
  return {
    version: 1n,
    featureSpec: 1,
    nIn: 1,
    nHidden: 1,
    hMul: 1,
    hShift: 1,
    b2: 0,
    threshold: 0,
    inZero: Int32Array.of(0),
    inMul: Int32Array.of(65536),
    b1: Int32Array.of(0),
    w1: Int8Array.of(1),
    w2: Int8Array.of(1),
    ngramBits: 0,
    ngramShift: 0,
    ngram: new Int8Array(0),
    ...over,
  };
}

test("input quantization: rounding half up, floor on negatives, saturation at ±127", () => {
  const m = model({ inMul: Int32Array.of(32768) }); // x = (f / 2) rounded half up
  assert.deepEqual(Array.from(quantizeInputs(m, [3])), [2]); // (98304 + 32768) >> 16 = 2
  assert.deepEqual(Array.from(quantizeInputs(m, [-3])), [-1]); // (-98304 + 32768) >> 16 = floor(-1) = -1
  assert.deepEqual(Array.from(quantizeInputs(m, [-5])), [-2]); // (-163840 + 32768) >> 16 = floor(-2.0) = -2
  assert.deepEqual(Array.from(quantizeInputs(m, [1000])), [127]);
  assert.deepEqual(Array.from(quantizeInputs(m, [-1000])), [-127]);
  const z = model({ inZero: Int32Array.of(100) });
  assert.deepEqual(Array.from(quantizeInputs(z, [90])), [-10]);
});

test("input quantization needs 64 bits: extreme feature, zero and multiplier do not wrap", () => {
  const m = model({ inZero: Int32Array.of(-2147483648), inMul: Int32Array.of(2147483647) });
  assert.deepEqual(Array.from(quantizeInputs(m, [2147483647])), [127]);
  const n = model({ inZero: Int32Array.of(-2147483648), inMul: Int32Array.of(-2147483648) });
  assert.deepEqual(Array.from(quantizeInputs(n, [2147483647])), [-127]);
  // (1 * 1 + 32768) >> 16 = 0, (-1 * 32768 + 32768) >> 16 = 0, (-1 * 32769 + 32768) >> 16 = -1
  assert.deepEqual(Array.from(quantizeInputs(model({ inMul: Int32Array.of(32768) }), [-1])), [0]);
  assert.deepEqual(Array.from(quantizeInputs(model({ inMul: Int32Array.of(32769) }), [-1])), [-1]);
});

test("hidden requantization: h_shift 1 and 31, ReLU at 0, saturation at 127", () => {
  const h1 = model({ b1: Int32Array.of(4), hMul: 3, hShift: 1 }); // (a * 3 + 1) >> 1
  assert.deepEqual(Array.from(hiddenLayer(h1, Int8Array.of(1))), [8]); // a = 5: 16 >> 1
  assert.deepEqual(Array.from(hiddenLayer(h1, Int8Array.of(-9))), [0]); // a = -5: floor(-14 / 2) < 0
  assert.deepEqual(Array.from(hiddenLayer(h1, Int8Array.of(100))), [127]);
  const h31 = model({ b1: Int32Array.of(0), hMul: 2147483647, hShift: 31 }); // ~ a * (1 - 2^-31)
  assert.deepEqual(Array.from(hiddenLayer(h31, Int8Array.of(5))), [5]);
  assert.deepEqual(Array.from(hiddenLayer(h31, Int8Array.of(127))), [127]);
  // products far beyond 2^53 keep their sign and clamp: -2^61 -> 0, 2^54 + 2^30 -> 127
  const big = model({ b1: Int32Array.of(1 << 30), hMul: -2147483648, hShift: 31 });
  assert.deepEqual(Array.from(hiddenLayer(big, Int8Array.of(0))), [0]);
  const exact = model({ nIn: 1, b1: Int32Array.of(1 << 30), hMul: 1 << 24, hShift: 31, w1: Int8Array.of(0) });
  assert.deepEqual(Array.from(hiddenLayer(exact, Int8Array.of(0))), [127]);
  const tie = model({ b1: Int32Array.of(3), hMul: 1, hShift: 1, w1: Int8Array.of(0) }); // (3 + 1) >> 1 = 2
  assert.deepEqual(Array.from(hiddenLayer(tie, Int8Array.of(0))), [2]);
  const negTie = model({ b1: Int32Array.of(-3), hMul: -1, hShift: 2, w1: Int8Array.of(0) }); // (3 + 2) >> 2 = 1
  assert.deepEqual(Array.from(hiddenLayer(negTie, Int8Array.of(0))), [1]);
});

test("a full model scored by hand: 2 inputs, 3 hidden units", () => {
  const m = model({
    nIn: 2,
    nHidden: 3,
    inZero: Int32Array.of(10, 0),
    inMul: Int32Array.of(65536, 131072),
    b1: Int32Array.of(1, -50, 0),
    w1: Int8Array.of(2, 3, -1, 1, 127, -128),
    hMul: 1,
    hShift: 1,
    w2: Int8Array.of(5, -7, 1),
    b2: -20,
    threshold: 40,
  });
  // x = [clamp(20 - 10) = 10, clamp(2 * 4) = 8]
  assert.deepEqual(Array.from(quantizeInputs(m, [20, 4])), [10, 8]);
  // a = [1 + 20 + 24 = 45, -50 - 10 + 8 = -52, 1270 - 1024 = 246]; h = (a + 1) >> 1 clamped = [23, 0, 123]
  assert.deepEqual(Array.from(hiddenLayer(m, Int8Array.of(10, 8))), [23, 0, 123]);
  // out = -20 + 115 + 0 + 123 = 218
  assert.equal(score(m, [20, 4], null), 218);
  assert.equal(isThreat(m, [20, 4], null), true);
  assert.equal(isThreat({ ...m, threshold: 219 }, [20, 4], null), false);

  // The same model with a 64-row table, shift 2: row 5 = [10, -3, -128], row 9 = [1, 100, 0].
  const ngram = new Int8Array(64 * 3);
  ngram.set([10, -3, -128], 5 * 3);
  ngram.set([1, 100, 0], 9 * 3);
  const t = { ...m, ngramBits: 6, ngramShift: 2, ngram };
  assert.equal(modelShapeError(t), null);
  const rows = Uint16Array.of(5, 5, 9);
  // sums [21, 94, -256] << 2 = [84, 376, -1024]; a = [129, 324, -778]; h = [65, 127, 0]
  assert.deepEqual(Array.from(ngramSums(t, rows)!), [21, 94, -256]);
  assert.deepEqual(Array.from(hiddenLayer(t, Int8Array.of(10, 8), ngramSums(t, rows))), [65, 127, 0]);
  // out = -20 + 5 * 65 - 7 * 127 = -584
  assert.equal(score(t, [20, 4], rows), -584);
  assert.equal(isThreat(t, [20, 4], rows), false);
  // No rows (null or empty) adds nothing; a model without a table ignores rows.
  assert.equal(score(t, [20, 4], null), 218);
  assert.equal(score(t, [20, 4], new Uint16Array(0)), 218);
  assert.equal(score(m, [20, 4], rows), 218);
  assert.throws(() => score(t, [20, 4], Uint16Array.of(64)), /row 64 is outside a table of 2\^6 rows/);
  assert.throws(() => score(t, [20, 4], new Uint16Array(253)), /253 n-grams/);
});

test("n-gram bound: 252 rows of -128 shifted by NGRAM_MAX_SHIFT with extreme bias and weights stay exact", () => {
  const nIn = 32;
  const nHidden = 1;
  const m = model({
    nIn,
    nHidden,
    inZero: new Int32Array(nIn),
    inMul: new Int32Array(nIn).fill(65536),
    b1: Int32Array.of(-(2 ** 30) + 1),
    w1: new Int8Array(nIn).fill(127),
    w2: Int8Array.of(1),
    hMul: -1,
    hShift: 26,
    ngramBits: 6,
    ngramShift: NGRAM_MAX_SHIFT,
    ngram: new Int8Array(64).fill(-128),
  });
  const rows = new Uint16Array(252).fill(3);
  const a = -(2n ** 30n) + 1n + 32n * 127n * -127n - 252n * 128n * 2n ** 16n;
  const h = (a * -1n + 2n ** 25n) >> 26n;
  assert.ok(h > 0n && h < 127n, "the test lands inside the ReLU range, where every bit of a shows");
  assert.equal(score(m, new Array(nIn).fill(-127), rows), Number(h));
  assert.ok(-a < 2n ** 32n, "|a| < 2^32: a * h_mul fits s64 for any int32 h_mul");
});

test("ngramRowsFor: null without a table, the name's rows for the model's bits with one", () => {
  const wire = encodeName("x7k2q9zt1vb8.example.net")!;
  assert.equal(ngramRowsFor({ ngramBits: 0 }, wire), null);
  assert.deepEqual(ngramRowsFor({ ngramBits: 11 }, wire), ngramRows(wire, 11));
  assert.deepEqual(ngramRowsFor({ ngramBits: 11, ngramTld: false }, wire), ngramRows(wire, 11));
  assert.deepEqual(ngramRowsFor({ ngramBits: 11, ngramTld: true }, wire), ngramRows(wire, 11, 0, true));
});

test("the output wraps to int32 as the kernel's (s32) cast does", () => {
  const m = model({ b2: 2147483647, b1: Int32Array.of(127 * 2), hMul: 1, hShift: 1, w1: Int8Array.of(0), w2: Int8Array.of(1) });
  // h = (254 + 1) >> 1 = 127; out = 2^31 - 1 + 127 wraps negative
  assert.equal(score(m, [0], null), -2147483648 + 126);
});

test("limits: n_in 32 and n_hidden 64 at full saturation stay exact; out-of-range shapes are refused", () => {
  const nIn = 32;
  const nHidden = 64;
  const m = model({
    nIn,
    nHidden,
    inZero: new Int32Array(nIn),
    inMul: new Int32Array(nIn).fill(65536),
    b1: new Int32Array(nHidden),
    w1: new Int8Array(nIn * nHidden).fill(-127),
    w2: new Int8Array(nHidden).fill(127),
    hMul: 1,
    hShift: 1,
  });
  const f = new Array(nIn).fill(-127);
  // a = 32 * 127 * 127 = 516128 -> h = 127 each; out = 64 * 127 * 127 = 1032256
  assert.equal(score(m, f, null), 1032256);
  assert.equal(modelShapeError(m), null);
  assert.match(modelShapeError({ ...m, nIn: 33 }) ?? "", /n_in 33/);
  assert.match(modelShapeError({ ...m, nHidden: 0 }) ?? "", /n_hidden 0/);
  assert.match(modelShapeError({ ...m, hShift: 0 }) ?? "", /h_shift 0/);
  assert.match(modelShapeError({ ...m, hShift: 32 }) ?? "", /h_shift 32/);
  assert.match(modelShapeError({ ...m, w1: new Int8Array(10) }) ?? "", /w1/);
  const table = (bits: number): Int8Array => new Int8Array((1 << bits) * nHidden);
  assert.equal(modelShapeError({ ...m, ngramBits: 6, ngramShift: 0, ngram: table(6) }), null);
  assert.equal(modelShapeError({ ...m, ngramBits: 14, ngramShift: NGRAM_MAX_SHIFT, ngram: table(14) }), null);
  assert.match(modelShapeError({ ...m, ngramBits: 5, ngram: table(5) }) ?? "", /ngram_bits 5/);
  assert.match(modelShapeError({ ...m, ngramBits: 15, ngram: table(15) }) ?? "", /ngram_bits 15/);
  assert.match(modelShapeError({ ...m, ngramBits: 6, ngramShift: NGRAM_MAX_SHIFT + 1, ngram: table(6) }) ?? "", /ngram_shift 17/);
  assert.match(modelShapeError({ ...m, ngramShift: 1 }) ?? "", /ngram_shift 1 without a table/);
  assert.match(modelShapeError({ ...m, ngramBits: 6, ngram: table(6).subarray(1) }) ?? "", /holds 4095 weights, expected .* = 4096/);
  assert.match(modelShapeError({ ...m, ngram: new Int8Array(1) }) ?? "", /holds 1 weights, expected .* = 0/);
});
