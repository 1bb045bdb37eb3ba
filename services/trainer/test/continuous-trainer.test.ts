// Tests of services/trainer/src/continuous-trainer.ts: a round on streamed feature vectors and labels
// publishes a signed update of the n-gram table it was configured for (with or without the TLD row), and
// the model it trained on is the one the TS reference scores on the names' rows (ngramRowsFor).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { FeatureVector, Label } from "../../../lib/src/avro.js";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { splitOf } from "../../../lib/src/model/dataset-split.js";
import { FEATURE_COUNT, FEATURE_SPEC, nameFeatures } from "../../../lib/src/model/features.js";
import { ngramRowsFor, score } from "../../../lib/src/model/int8-mlp.js";
import { wireOfLabelledName } from "../../../lib/src/model/labelled-csv.js";
import { quantModelFromUpdate } from "../../../lib/src/model/model-update.js";
import { NGRAM_FLAG_TLD, ngramRows } from "../../../lib/src/model/ngrams.js";
import { generateSigningKey, verifyModelUpdate } from "../../../lib/src/model/signing.js";
import { registeredDomain } from "../../../lib/src/registered-domain.js";
import { ContinuousTrainer, type ContinuousOptions } from "../src/continuous-trainer.js";
import type { FeatureRow } from "../src/mlp-train.js";
import { evaluateModel } from "../src/validate.js";

const SHARED = new URL("../../../../shared/data/", import.meta.url);
const BITS = 10;
const SPLIT = 0.3;

/** First column of every k-th data line of a shared CSV, `keep` names in all. */
function sample(rel: string, keep: number): string[] {
  const lines = readFileSync(new URL(rel, SHARED), "utf8").split("\n").slice(1).filter((l) => l.length > 0);
  const step = Math.max(1, Math.floor(lines.length / keep));
  return lines.filter((_, i) => i % step === 0).slice(0, keep).map((l) => l.split(",")[0]!.toLowerCase());
}

const bigram = loadBigramTable();
const benign = sample("domains/benign.csv", 700);
const dga = sample("domains/dga.csv", 500);
const names = [...benign, ...dga].filter((n) => wireOfLabelledName(n) !== null);
const malicious = new Set(dga);

function featuresOf(name: string): Int32Array {
  return nameFeatures(wireOfLabelledName(name)!, bigram)!;
}

function vector(name: string): FeatureVector {
  const values = Array.from({ length: FEATURE_COUNT }, (_, i) => featuresOf(name)[i] ?? 0);
  return { event_time_us: 0, node: "test", src_addr: "198.18.0.1", feature_spec: FEATURE_SPEC, values, score: 0, verdict: "pass", model_version: 0, slot: "active", context: name };
}

function threatLabel(name: string): Label {
  return { entity_type: "qname", entity: name, label: "malicious", family: null, source: "threat_intel", source_ref: null, confidence: 1, labelled_at_ms: 0, note: null };
}

function options(ngramTld: boolean): ContinuousOptions {
  return {
    modelName: "stoq-threat",
    nHidden: 8,
    ngramBits: BITS,
    ngramTld,
    minSamples: 500,
    maxRows: 10_000,
    validationSplit: SPLIT,
    threatThreshold: 0.85,
    // The test is about the table the round trains, not about its quality: a bar a small run clears.
    quality: { minAuc: 0.8, maxAucGap: 0.05, maxFalsePositiveRate: 0.1, minRecall: 0.3, minSamples: 100 },
    key: generateSigningKey(),
    minPositives: 20,
    epochs: 10,
  };
}

async function publishedRound(o: ContinuousOptions) {
  const trainer = new ContinuousTrainer(o);
  for (const n of names) trainer.addFeatures(vector(n));
  for (const n of dga) trainer.addLabel(threatLabel(n));
  const outcome = await trainer.round(Date.now());
  if (outcome.kind !== "published") assert.fail(outcome.kind === "rejected" ? outcome.result.failures.join("; ") : outcome.reason);
  return { ...outcome, update: verifyModelUpdate(outcome.message, [o.key.publicKey]) };
}

/** The trainer's validation rows rebuilt by the test: same names, order and split, rows from `rowsOf`. */
function validationRows(rowsOf: (wire: Uint8Array) => Uint16Array | null): FeatureRow[] {
  return names
    .filter((n) => splitOf(registeredDomain(n), SPLIT) === "validation")
    .map((n) => ({ features: featuresOf(n), rows: rowsOf(wireOfLabelledName(n)!), label: malicious.has(n) ? 1 : 0 }));
}

test("a continuous round with the TLD row publishes a flagged update that scores as the TS reference on the names' rows", { timeout: 180_000 }, async () => {
  const o = options(true);
  const { result, update } = await publishedRound(o);
  assert.equal(update.ngram_bits & 0xff, BITS);
  assert.equal(update.ngram_bits >>> 8, NGRAM_FLAG_TLD, "ngram_flags bit 0 set");
  const m = quantModelFromUpdate(update);
  assert.equal(m.ngramTld, true);
  assert.deepEqual(m, result.quant, "the update carries the model the round validated");

  // The trainer held the rows ngramRowsFor gives for the published model: its validation figures are
  // exactly those of the reference on rows read that way, and not those of the trigram rows alone.
  const withTld = validationRows((w) => ngramRowsFor(m, w));
  assert.deepEqual(evaluateModel(result.float, result.calibration, m, result.outputScale, withTld), result.validation);
  const trigramsOnly = validationRows((w) => ngramRows(w, BITS));
  assert.notDeepEqual(evaluateModel(result.float, result.calibration, m, result.outputScale, trigramsOnly), result.validation);

  // The TLD rows were trained (the table starts at zero): they move the int8 score of most sample names.
  let moved = 0;
  for (const n of names) {
    const wire = wireOfLabelledName(n)!;
    const rows = ngramRowsFor(m, wire)!;
    assert.deepEqual(rows, ngramRows(wire, BITS, 0, true));
    assert.equal(rows.length, ngramRows(wire, BITS)!.length + 1, n);
    if (score(m, featuresOf(n), rows) !== score(m, featuresOf(n), ngramRows(wire, BITS))) moved++;
  }
  assert.ok(moved > names.length / 2, `${moved} of ${names.length} scores moved by the TLD row`);
});

test("a continuous round without the TLD row publishes an update without the flag", { timeout: 180_000 }, async () => {
  const o = options(false);
  const { result, update } = await publishedRound(o);
  assert.equal(update.ngram_bits, BITS);
  const m = quantModelFromUpdate(update);
  assert.equal(m.ngramTld, undefined);
  assert.deepEqual(evaluateModel(result.float, result.calibration, m, result.outputScale, validationRows((w) => ngramRows(w, BITS))), result.validation);
});
