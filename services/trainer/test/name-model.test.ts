import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isStoqError } from "../../../lib/src/errors.js";
import { loadModelArtifact } from "../../../lib/src/model/artifact.js";
import { MESSAGE_MAX_BYTES } from "../../../lib/src/topics.js";
import { publicKeyFromPem, generateSigningKey, verifyModelUpdate } from "../../../lib/src/model/signing.js";
import { defaultNameModelOptions, trainNameModel } from "../src/name-model.js";

const SHARED = new URL("../../../../shared/data/", import.meta.url);

/** Every k-th line of a shared file (header kept), so the small run sees every kind and family. */
function sample(rel: string, keep: number, header: boolean): string {
  const lines = readFileSync(new URL(rel, SHARED), "utf8").split("\n").filter((l) => l.length > 0);
  const body = header ? lines.slice(1) : lines;
  const step = Math.max(1, Math.floor(body.length / keep));
  const picked = body.filter((_, i) => i % step === 0).slice(0, keep);
  return [...(header ? [lines[0]!] : []), ...picked].join("\n") + "\n";
}

/** A data directory in `dir` laid out like ../shared/data, with `n` of each kind sampled from it. */
function sampleData(dir: string, n: { benign: number; dga: number; train: number; validate: number }): string {
  const data = join(dir, "data");
  mkdirSync(join(data, "domains"), { recursive: true });
  mkdirSync(join(data, "dns-tunnel/netrack"), { recursive: true });
  writeFileSync(join(data, "domains/benign.csv"), sample("domains/benign.csv", n.benign, true));
  writeFileSync(join(data, "domains/dga.csv"), sample("domains/dga.csv", n.dga, true));
  writeFileSync(join(data, "dns-tunnel/netrack/train.csv"), sample("dns-tunnel/netrack/train.csv", n.train, false));
  writeFileSync(join(data, "dns-tunnel/netrack/validate.csv"), sample("dns-tunnel/netrack/validate.csv", n.validate, false));
  return data;
}

test("a small training run (a few hundred names, seconds) produces a valid, signed, loadable model", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stoq-train-"));
  try {
    const data = sampleData(dir, { benign: 700, dga: 2000, train: 300, validate: 150 });
    const key = generateSigningKey();
    const base = defaultNameModelOptions(data);
    const out = join(dir, "model.json");
    const pub = join(dir, "key.pub.pem");
    const t0 = Date.now();
    const { result, message } = await trainNameModel(
      {
        ...base,
        out,
        publicKeyOut: pub,
        dataset: { ...base.dataset, perFamily: 40 },
        train: { ...base.train, nHidden: 8, epochs: 25, batchSize: 64, learningRate: 0.01 },
        quality: { ...base.quality, minSamples: 100, minAuc: 0.85, maxFalsePositiveRate: 0.2, minRecall: 0.3, maxAucGap: 0.03 },
      },
      key,
    );
    assert.ok(Date.now() - t0 < 120_000);
    assert.deepEqual(result.failures, []);
    assert.ok(message !== null);
    assert.ok(result.validation.int8_auc > 0.85, JSON.stringify(result.validation));
    assert.ok(result.validation.verdict_agreement > 0.95, JSON.stringify(result.validation));
    const u = verifyModelUpdate(message, [publicKeyFromPem(readFileSync(pub, "utf8"))]);
    assert.equal(u.model_name, "stoq-threat");
    assert.equal(u.n_in, 16);
    assert.equal(u.n_hidden, 8);
    const loaded = loadModelArtifact(out, [key.publicKey]);
    assert.deepEqual(loaded.quant, result.quant);
    assert.throws(() => loadModelArtifact(out, [generateSigningKey().publicKey]), /unknown key/);
    assert.equal(loaded.quant.ngramTld, undefined, "no TLD row unless asked");

    // With the TLD row: both twins carry the flag through the signed update, and the int8 model scored on
    // rows with the TLD row tracks the float one.
    const tldOut = join(dir, "tld.json");
    const tld = await trainNameModel(
      {
        ...base,
        out: tldOut,
        publicKeyOut: null,
        dataset: { ...base.dataset, perFamily: 40 },
        train: { ...base.train, nHidden: 8, ngramBits: 8, ngramTld: true, epochs: 10, batchSize: 64, learningRate: 0.01 },
        quality: { ...base.quality, minSamples: 100, minAuc: 0.85, maxFalsePositiveRate: 0.2, minRecall: 0.3, maxAucGap: 0.03 },
      },
      key,
    );
    assert.deepEqual(tld.result.failures, []);
    const loadedTld = loadModelArtifact(tldOut, [key.publicKey]);
    assert.equal(loadedTld.quant.ngramTld, true);
    assert.equal(loadedTld.float.ngramTld, true);
    assert.equal(loadedTld.update.ngram_bits, 8 + 256);
    assert.ok(tld.result.validation.verdict_agreement > 0.95, JSON.stringify(tld.result.validation));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a model below the quality bar is not written", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stoq-train-"));
  try {
    const data = sampleData(dir, { benign: 300, dga: 300, train: 60, validate: 30 });
    const base = defaultNameModelOptions(data);
    const out = join(dir, "model.json");
    const { result, message } = await trainNameModel(
      { ...base, out, publicKeyOut: null, dataset: { ...base.dataset, perFamily: 10 }, train: { ...base.train, nHidden: 4, epochs: 2 }, quality: { ...base.quality, minAuc: 0.999 } },
      generateSigningKey(),
    );
    assert.equal(message, null);
    assert.ok(result.failures.some((f) => /int8 AUC/.test(f)));
    assert.throws(() => readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a model too large for the broker's message.max.bytes (2^14 rows x 64 units) is refused by name and size, and not written", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stoq-train-"));
  try {
    const data = sampleData(dir, { benign: 300, dga: 300, train: 60, validate: 30 });
    const base = defaultNameModelOptions(data);
    const out = join(dir, "model.json");
    const anyQuality = { minSamples: 1, minAuc: 0, maxFalsePositiveRate: 1, minRecall: 0, maxAucGap: 1 };
    await assert.rejects(
      trainNameModel(
        { ...base, out, publicKeyOut: null, dataset: { ...base.dataset, perFamily: 10 }, train: { ...base.train, nHidden: 64, ngramBits: 14, epochs: 1 }, quality: anyQuality },
        generateSigningKey(),
      ),
      (e: unknown) => isStoqError(e) && e.code === "MODEL_REJECTED" && /model update is 1\d{6} bytes/.test(e.message) && e.message.includes(`message.max.bytes of ${MESSAGE_MAX_BYTES}`),
    );
    assert.throws(() => readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
