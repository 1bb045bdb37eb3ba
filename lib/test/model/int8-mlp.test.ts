import assert from "node:assert/strict";
import { test } from "node:test";
import { hiddenLayer, isThreat, modelShapeError, quantizeInputs, score, type QuantModel } from "../../src/model/int8-mlp.js";

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
  assert.equal(score(m, [20, 4]), 218);
  assert.equal(isThreat(m, [20, 4]), true);
  assert.equal(isThreat({ ...m, threshold: 219 }, [20, 4]), false);
});

test("the output wraps to int32 as the kernel's (s32) cast does", () => {
  const m = model({ b2: 2147483647, b1: Int32Array.of(127 * 2), hMul: 1, hShift: 1, w1: Int8Array.of(0), w2: Int8Array.of(1) });
  // h = (254 + 1) >> 1 = 127; out = 2^31 - 1 + 127 wraps negative
  assert.equal(score(m, [0]), -2147483648 + 126);
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
  assert.equal(score(m, f), 1032256);
  assert.equal(modelShapeError(m), null);
  assert.match(modelShapeError({ ...m, nIn: 33 }) ?? "", /n_in 33/);
  assert.match(modelShapeError({ ...m, nHidden: 0 }) ?? "", /n_hidden 0/);
  assert.match(modelShapeError({ ...m, hShift: 0 }) ?? "", /h_shift 0/);
  assert.match(modelShapeError({ ...m, hShift: 32 }) ?? "", /h_shift 32/);
  assert.match(modelShapeError({ ...m, w1: new Int8Array(10) }) ?? "", /w1/);
});
