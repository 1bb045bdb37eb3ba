// The kernel model sink follows bpf/stoq_model.h's swap protocol: the inactive slot is written in full
// with version 0, then its n-gram rows in one batch, then the slot with the real version, and only then
// is `active` flipped with one control write; on the real kernel the next query is scored by the new
// model and its table (as the reference scores the name's trigrams) and the previous slot is left as it was.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { encodeName } from "../../../lib/src/model/features.js";
import { ngramRowsFor, score, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { decodeControl, encodeModel, encodeNgramRows, MODE, MODEL_SLOT, NGRAM_SLOT_ROWS } from "../../../lib/src/model/layout.js";
import { fixtureModel } from "../../../test/kernel/fixture-runner.js";
import { buildPacket } from "../../../test/kernel/packets.js";
import { KernelClock } from "../src/kernel-clock.js";
import { KernelEventMapper, type MappedRecord } from "../src/kernel-events.js";
import { INITIAL_CONTROL } from "../src/kernel-loader.js";
import { KernelModelSink, type BatchWriter, type MapWriter } from "../src/kernel-model-sink.js";
import { KernelHarness } from "./xdp-harness.js";

const u32 = (n: number): Buffer => Buffer.from([n, 0, 0, 0]);

/** A model whose 16 hidden units read a 256-row table, so the name's trigrams move its score. */
function tableModel(version: bigint): QuantModel {
  const nIn = 16;
  const nHidden = 16;
  return {
    ...fixtureModel("benign", version),
    nHidden,
    hMul: 1 << 12,
    hShift: 16,
    b2: -300,
    b1: new Int32Array(nHidden).fill(2000),
    w1: new Int8Array(nHidden * nIn),
    w2: Int8Array.from({ length: nHidden }, (_, j) => (j % 3) - 1 + j),
    ngramBits: 8,
    ngramShift: 4,
    ngram: Int8Array.from({ length: 256 * nHidden }, (_, i) => ((i * 97 + Number(version) * 13) % 256) - 128),
  };
}

test("a model is written to the inactive slot with version 0, then its table rows, then its version, then active flips", () => {
  const writes: { map: string; key: number; value: Buffer }[] = [];
  const batches: { keys: number[]; values: Buffer[] }[] = [];
  const recorder = (map: string): MapWriter => ({ update: (key, value) => void writes.push({ map, key: key.readUInt32LE(0), value: Buffer.from(value) }) });
  const ngrams: BatchWriter = {
    updateBatch: (keys, values) => {
      writes.push({ map: "ngrams", key: keys[0]!.readUInt32LE(0), value: Buffer.alloc(0) });
      batches.push({ keys: keys.map((k) => k.readUInt32LE(0)), values: values.map((v) => Buffer.from(v)) });
    },
  };
  const sink = new KernelModelSink(recorder("models"), ngrams, recorder("control"), INITIAL_CONTROL);
  const m5 = fixtureModel("benign", 5n);
  sink.apply(m5);
  const bytes = encodeModel(m5);
  const zeroVersion = Buffer.from(bytes);
  zeroVersion.writeBigUInt64LE(0n, 0);
  assert.deepEqual(
    writes.map((w) => [w.map, w.key]),
    [["models", MODEL_SLOT.B], ["models", MODEL_SLOT.B], ["control", 0]],
  );
  assert.deepEqual(writes[0]!.value, zeroVersion);
  assert.deepEqual(writes[1]!.value, bytes);
  assert.deepEqual(decodeControl(writes[2]!.value), { active: MODEL_SLOT.B, mode: MODE.observe, shadow: 0 });

  writes.length = 0;
  sink.setMode("enforce");
  sink.apply(fixtureModel("threat", 6n));
  assert.deepEqual(writes.map((w) => [w.map, w.key]), [["control", 0], ["models", MODEL_SLOT.A], ["models", MODEL_SLOT.A], ["control", 0]]);
  assert.deepEqual(decodeControl(writes[3]!.value), { active: MODEL_SLOT.A, mode: MODE.enforce, shadow: 0 });
  assert.equal(sink.version, 6n);
  assert.equal(batches.length, 0, "no table, no row writes");

  writes.length = 0;
  const t = tableModel(7n);
  sink.apply(t);
  assert.deepEqual(writes.map((w) => [w.map, w.key]), [["models", MODEL_SLOT.B], ["ngrams", MODEL_SLOT.B * NGRAM_SLOT_ROWS], ["models", MODEL_SLOT.B], ["control", 0]]);
  assert.equal(writes[0]!.value.readBigUInt64LE(0), 0n);
  assert.deepEqual(writes[2]!.value, encodeModel(t));
  assert.deepEqual(batches[0]!.keys, Array.from({ length: 256 }, (_, r) => MODEL_SLOT.B * NGRAM_SLOT_ROWS + r));
  assert.deepEqual(batches[0]!.values, encodeNgramRows(t));

  // A model that cannot be laid out writes nothing.
  writes.length = 0;
  assert.throws(() => sink.apply({ ...tableModel(8n), ngram: new Int8Array(3) }), /cannot be laid out/);
  assert.deepEqual(writes, []);
  assert.equal(sink.version, 7n);
});

let h: KernelHarness;
before(() => {
  h = KernelHarness.open();
});
after(async () => {
  await h?.close();
});

test("on the kernel, the next query after apply() is scored by the new model and the old slot is untouched", async () => {
  const models = h.kernel.map("stoq_models");
  const sink = new KernelModelSink(models, h.kernel.map("stoq_ngrams"), h.kernel.map("stoq_control"), INITIAL_CONTROL);
  const mapper = new KernelEventMapper({ node: "n", clock: new KernelClock(), facts: null });
  const scoredVersion = async (sport: number): Promise<number | null> => {
    h.run([buildPacket({ ipv4: { src: "198.18.2.1", dst: "198.18.2.53" }, udp: { sport, dport: 53 }, dns: { id: sport, qname: "mail.example.org" } })]);
    const out: MappedRecord[] = [];
    for (const b of await h.take()) mapper.batch(b, out);
    const dns = out.find((r) => r.name === "DnsEvent");
    return dns?.name === "DnsEvent" ? dns.value.model_version : null;
  };
  assert.equal(await scoredVersion(42000), null, "no model: unscored");
  sink.apply(fixtureModel("benign", 11n));
  assert.deepEqual(models.lookup(u32(MODEL_SLOT.B)), encodeModel(fixtureModel("benign", 11n)));
  assert.equal(await scoredVersion(42001), 11);
  sink.apply(fixtureModel("benign", 12n));
  assert.equal(await scoredVersion(42002), 12);
  assert.deepEqual(models.lookup(u32(MODEL_SLOT.B)), encodeModel(fixtureModel("benign", 11n)), "the previous slot keeps v11");
  assert.deepEqual(decodeControl(h.kernel.map("stoq_control").lookup(u32(0))!), { active: MODEL_SLOT.A, mode: MODE.observe, shadow: 0 });

  // A model with a table: the kernel's score is the reference's on the name's trigrams.
  const t = tableModel(13n);
  sink.apply(t);
  const names = ["mail.example.org", "x7k2q9zt1vb8.net", "aGVsbG8gd29ybGQ.t.tuns.org", "com"];
  for (const [i, qname] of names.entries()) {
    h.run([buildPacket({ ipv4: { src: "198.18.2.1", dst: "198.18.2.53" }, udp: { sport: 42100 + i, dport: 53 }, dns: { id: i, qname } })]);
    const out: MappedRecord[] = [];
    for (const b of await h.take()) mapper.batch(b, out);
    const fv = out.find((r) => r.name === "FeatureVector");
    assert.ok(fv?.name === "FeatureVector", qname);
    assert.equal(fv.value.model_version, 13);
    const rows = ngramRowsFor(t, encodeName(qname)!);
    assert.equal(fv.value.score, score(t, fv.value.values, rows), qname);
    if (rows!.length > 0) assert.notEqual(fv.value.score, score(t, fv.value.values, null), `${qname}: the table moved the score`);
  }
});
