import assert from "node:assert/strict";
import { test } from "node:test";
import { floatInputs, floatLogit } from "../../../lib/src/model/float-mlp.js";
import { quantizeInputs } from "../../../lib/src/model/int8-mlp.js";
import { rocAuc } from "../../../lib/src/model/metrics.js";
import { seededRandom } from "../src/datasets.js";
import { DEFAULT_TRAIN_OPTIONS, calibrateInputs, trainFloatModel, type FeatureRow } from "../src/mlp-train.js";
import { tfWasm } from "../src/tf-backend.js";

test("calibration: small ranges kept whole (a rare flag survives), wide ranges cut at quantiles, constants off", () => {
  const rows: FeatureRow[] = Array.from({ length: 10000 }, (_, i) => ({
    features: [i === 0 ? 1 : 0, i % 50, i === 5 ? 1e6 : i, 7],
    label: 0,
  }));
  const cal = calibrateInputs(rows, 4, 0.001);
  // flag: zero 0, 1 -> 127; 0..49: zero 24, half 25, 49 -> 127 and 0 -> -122
  assert.deepEqual(Array.from(quantizeInputs(cal, [1, 49, 0, 7]).subarray(0, 2)), [127, 127]);
  assert.deepEqual(Array.from(quantizeInputs(cal, [0, 0, 0, 7]).subarray(0, 2)), [0, -122]);
  // wide feature: 0.1% .. 99.9% quantiles ~ 10 .. 9989; the outlier saturates
  assert.equal(quantizeInputs(cal, [0, 0, 1e6, 0])[2], 127);
  assert.equal(quantizeInputs(cal, [0, 0, 5000, 0])[2], 0);
  assert.equal(cal.inMul[3], 0);
});

test("a small run learns a separable problem in seconds and the folded model reads x / 127", async () => {
  const rnd = seededRandom(9);
  const rows: FeatureRow[] = Array.from({ length: 400 }, () => {
    const a = Math.floor(rnd() * 100);
    const b = Math.floor(rnd() * 100);
    return { features: [a, b, Math.floor(rnd() * 10)], label: a + b > 100 ? 1 : 0 };
  });
  const t0 = Date.now();
  const r = await trainFloatModel(rows, { ...DEFAULT_TRAIN_OPTIONS, nIn: 3, nHidden: 8, epochs: 60, batchSize: 64, learningRate: 0.01 });
  assert.ok(Date.now() - t0 < 60_000);
  const s = rows.map((x) => floatLogit(r.model, floatInputs(r.calibration, x.features), null));
  const auc = rocAuc(
    s.filter((_, i) => rows[i]!.label === 1),
    s.filter((_, i) => rows[i]!.label === 0),
  );
  assert.ok(auc > 0.97, `AUC ${auc}`);
  assert.equal(r.model.w1.length, 3 * 8);
  assert.ok(Number.isFinite(r.finalLoss));
});

test("the n-gram table learns what the dense inputs cannot see, and untouched rows stay zero", async () => {
  const rnd = seededRandom(4);
  const bits = 6;
  // The label is carried by table row 5 alone; the dense input is noise.
  const rows: FeatureRow[] = Array.from({ length: 2000 }, () => {
    const label = rnd() < 0.5 ? 1 : 0;
    const r = Array.from({ length: 3 + Math.floor(rnd() * 5) }, () => 10 + Math.floor(rnd() * 40));
    if (label === 1) r.push(5);
    return { features: [Math.floor(rnd() * 100)], rows: Uint16Array.from(r), label };
  });
  const tf = await tfWasm();
  const held = tf.memory().numTensors;
  const t = await trainFloatModel(rows, { ...DEFAULT_TRAIN_OPTIONS, nIn: 1, nHidden: 4, ngramBits: bits, epochs: 5, batchSize: 64, tableLearningRate: 0.01 });
  // Every tensor of the run (steps, variables, optimizer moments) is released: the continuous trainer
  // trains again and again in one process.
  assert.equal(tf.memory().numTensors, held);
  const s = rows.map((x) => floatLogit(t.model, floatInputs(t.calibration, x.features), x.rows ?? null));
  const auc = rocAuc(
    s.filter((_, i) => rows[i]!.label === 1),
    s.filter((_, i) => rows[i]!.label === 0),
  );
  assert.ok(auc > 0.99, `AUC ${auc}`);
  assert.equal(t.model.ngram.length, (1 << bits) * 4);
  for (const unused of [0, 1, 63]) for (let j = 0; j < 4; j++) assert.equal(t.model.ngram[unused * 4 + j], 0);
});
