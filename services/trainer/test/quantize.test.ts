import assert from "node:assert/strict";
import { test } from "node:test";
import { floatInputs, floatLogit, sigmoid, type FloatModel, type InputCalibration } from "../../../lib/src/model/float-mlp.js";
import { score } from "../../../lib/src/model/int8-mlp.js";
import { seededRandom } from "../src/datasets.js";
import type { FeatureRow } from "../src/mlp-train.js";
import { quantizeModel } from "../src/quantize.js";

const nIn = 6;
const nHidden = 12;
const rnd = seededRandom(3);
const gauss = (): number => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
const float: FloatModel = {
  nIn,
  nHidden,
  w1: Array.from({ length: nIn * nHidden }, () => gauss()),
  b1: Array.from({ length: nHidden }, () => 0.3 * gauss()),
  w2: Array.from({ length: nHidden }, () => gauss()),
  b2: -0.5,
  ngramBits: 0,
  ngram: new Float32Array(0),
};
// Features in 0..1000; calibration maps 500 +- 500 onto -127..127.
const cal: InputCalibration = { nIn, inZero: new Int32Array(nIn).fill(500), inMul: new Int32Array(nIn).fill(Math.round((127 * 65536) / 500)) };
const rows: FeatureRow[] = Array.from({ length: 3000 }, () => ({ features: Array.from({ length: nIn }, () => Math.floor(rnd() * 1001)), label: 0 }));

function errors(hiddenQuantile: number): { mean: number; max: number; range: number } {
  const { quant, outputScale } = quantizeModel(float, cal, rows, { threatThreshold: 0.85, hiddenQuantile, w1ScaleQuantile: 1, version: 1n, featureSpec: 1 });
  assert.ok(quant.hShift >= 1 && quant.hShift <= 31);
  let sum = 0;
  let max = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    const lf = floatLogit(float, floatInputs(cal, r.features), null);
    const e = Math.abs(lf - score(quant, r.features, null) * outputScale);
    sum += e;
    max = Math.max(max, e);
    lo = Math.min(lo, lf);
    hi = Math.max(hi, lf);
  }
  return { mean: sum / rows.length, max, range: hi - lo };
}

test("int8 scores track the float logits: mean error under 0.5 % of the logit range, max under 1 % without clipping", () => {
  const clipped = errors(0.9999);
  assert.ok(clipped.mean < 0.005 * clipped.range, JSON.stringify(clipped));
  const full = errors(1);
  assert.ok(full.max < 0.01 * full.range, JSON.stringify(full));
});

test("the integer threshold is the smallest output whose probability reaches threat_threshold", () => {
  for (const p of [0.5, 0.85, 0.99]) {
    const { quant, outputScale } = quantizeModel(float, cal, rows, { threatThreshold: p, hiddenQuantile: 0.9999, w1ScaleQuantile: 1, version: 1n, featureSpec: 1 });
    assert.ok(sigmoid(quant.threshold * outputScale) >= p - 1e-12);
    assert.ok(sigmoid((quant.threshold - 1) * outputScale) < p);
  }
});

test("equalization keeps the function: a unit with tiny activations still reaches the int8 range", () => {
  const scaled: FloatModel = { ...float, w1: float.w1.map((v, k) => (Math.floor(k / nIn) === 0 ? v * 1e-3 : v)), b1: float.b1.map((v, j) => (j === 0 ? v * 1e-3 : v)), w2: float.w2.map((v, j) => (j === 0 ? v * 1e3 : v)) };
  const a = quantizeModel(float, cal, rows, { threatThreshold: 0.85, hiddenQuantile: 0.9999, w1ScaleQuantile: 1, version: 1n, featureSpec: 1 });
  const b = quantizeModel(scaled, cal, rows, { threatThreshold: 0.85, hiddenQuantile: 0.9999, w1ScaleQuantile: 1, version: 1n, featureSpec: 1 });
  let same = 0;
  for (const r of rows.slice(0, 500)) if (Math.abs(score(a.quant, r.features, null) * a.outputScale - score(b.quant, r.features, null) * b.outputScale) < 0.05) same++;
  assert.ok(same >= 490, `${same} of 500 agree`);
});

test("the n-gram table: its sums land on the accumulator's scale through ngram_shift, int8 tracks float", () => {
  const bits = 8;
  // Table entries larger than the w1 weights (as trained tables are): the shift must be > 0.
  const withTable: FloatModel = { ...float, ngramBits: bits, ngram: Float32Array.from({ length: (1 << bits) * nHidden }, () => 0.3 * gauss()) };
  const tableRows: FeatureRow[] = rows.map((r) => ({ ...r, rows: Uint16Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * (1 << bits))) }));
  const { quant, outputScale } = quantizeModel(withTable, cal, tableRows, { threatThreshold: 0.85, hiddenQuantile: 0.9999, w1ScaleQuantile: 1, version: 1n, featureSpec: 1 });
  assert.equal(quant.ngramBits, bits);
  assert.equal(quant.ngram.length, (1 << bits) * nHidden);
  assert.ok(quant.ngramShift > 0 && quant.ngramShift <= 16, `shift ${quant.ngramShift}`);
  assert.ok(quant.ngram.some((v) => Math.abs(v) >= 64), "the table uses the int8 range");
  let sum = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of tableRows) {
    const lf = floatLogit(withTable, floatInputs(cal, r.features), r.rows ?? null);
    sum += Math.abs(lf - score(quant, r.features, r.rows ?? null) * outputScale);
    lo = Math.min(lo, lf);
    hi = Math.max(hi, lf);
  }
  assert.ok(sum / tableRows.length < 0.01 * (hi - lo), `mean error ${sum / tableRows.length} of range ${hi - lo}`);
  // Without its rows the same name scores differently: the table is used, not ignored.
  const r0 = tableRows[0]!;
  assert.notEqual(score(quant, r0.features, r0.rows ?? null), score(quant, r0.features, null));
});

test("w1ScaleQuantile below 1: a few outsized first-layer weights saturate instead of setting every weight's scale", () => {
  // 16 x 16 like a continuous round's model; two weights 100x the rest sit on an input that never
  // varies here (as a rarely-set feature would): scaled by them, the others kept a few int8 steps
  // (mean logit error 3 % of the range against 0.2 % now).
  const n = 16;
  const wide: FloatModel = {
    nIn: n,
    nHidden: n,
    w1: Array.from({ length: n * n }, (_, k) => (k === n - 1 || k === 2 * n - 1 ? 30 : 0.3 * gauss())),
    b1: Array.from({ length: n }, () => 0.1 * gauss()),
    w2: Array.from({ length: n }, () => gauss()),
    b2: -0.5,
    ngramBits: 0,
    ngram: new Float32Array(0),
  };
  const wideCal: InputCalibration = { nIn: n, inZero: new Int32Array(n).fill(500), inMul: new Int32Array(n).fill(Math.round((127 * 65536) / 500)) };
  const wideRows: FeatureRow[] = Array.from({ length: 3000 }, () => ({ features: Array.from({ length: n }, (_, i) => (i === n - 1 ? 500 : Math.floor(rnd() * 1001))), label: 0 }));
  const relativeError = (w1ScaleQuantile: number): number => {
    const { quant, outputScale } = quantizeModel(wide, wideCal, wideRows, { threatThreshold: 0.85, hiddenQuantile: 0.9999, w1ScaleQuantile, version: 1n, featureSpec: 1 });
    let sum = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of wideRows) {
      const lf = floatLogit(wide, floatInputs(wideCal, r.features), null);
      sum += Math.abs(lf - score(quant, r.features, null) * outputScale);
      lo = Math.min(lo, lf);
      hi = Math.max(hi, lf);
    }
    return sum / wideRows.length / (hi - lo);
  };
  const saturated = relativeError(0.99);
  assert.ok(saturated < 0.005, `mean error ${saturated} of the logit range`);
  assert.ok(relativeError(1) > 5 * saturated, "the max-scaled weights are the coarse ones");
});
