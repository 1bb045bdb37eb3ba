// The kernel's quantized MLP and n-gram table (bpf/mlp.h, bpf/ngram.h, through the bpf/test_mlp.bpf.c
// harness) give bit for bit the score of the TypeScript reference (lib/src/model/int8-mlp.ts) on random
// models and feature vectors, including saturating inputs, extreme weights, both unrolled input widths,
// tables of every size and word count with random and worst-case trigram bags; invalid models are
// refused. Then the whole XDP program (bpf/stoq.bpf.c: the name walk's trigrams included) scores real
// names (benign, DGA, tunnel) with table models exactly as the reference does on ngramRows of the name,
// with and without the TLD row.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { encodeName } from "../../lib/src/model/features.js";
import { MAX_HIDDEN, MAX_IN, NGRAM_MAX_SHIFT, ngramRowsFor, score, type QuantModel } from "../../lib/src/model/int8-mlp.js";
import { encodeModel, encodeNgramRows, MODE, MODEL_LAYOUT, ngramKeys } from "../../lib/src/model/layout.js";
import { NGRAM_MAX_PER_NAME, NGRAM_MIN_BITS, NGRAM_TLD_MARK, ngramBucket, ngramKeyRow } from "../../lib/src/model/ngrams.js";
import { BpfObject, type BpfProgram } from "../../services/collector/src/bpf.js";
import { EVENT_KIND, FEATURE_SPEC, STAT, type DnsEvent } from "../../services/collector/src/kernel-layout.js";
import { MLP_TEST_OBJECT, StoqKernel, XDP_PASS, buildKernelObjects } from "./kernel.js";
import { buildPacket } from "./packets.js";

let obj: BpfObject;
let prog: BpfProgram;

before(() => {
  buildKernelObjects();
  obj = BpfObject.open(MLP_TEST_OBJECT);
  obj.load();
  prog = obj.program("stoq_test_mlp");
});

after(() => obj.close());

/** xorshift64*: reproducible random numbers, so a failure names a seed that replays it. */
function rng(seed: bigint): () => number {
  let s = seed || 1n;
  return () => {
    s ^= s >> 12n;
    s ^= (s << 25n) & 0xffffffffffffffffn;
    s ^= s >> 27n;
    return Number(((s * 0x2545f4914f6cdd1dn) >> 32n) & 0xffffffffn) / 2 ** 32;
  };
}

function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

const S32_MIN = -(2 ** 31);
const S32_MAX = 2 ** 31 - 1;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function randomModel(r: () => number, version: bigint): QuantModel {
  const nIn = r() < 0.5 ? int(r, 1, 16) : int(r, 17, MAX_IN);
  const nHidden = int(r, 1, MAX_HIDDEN);
  const w = (n: number): Int8Array => Int8Array.from({ length: n }, () => (r() < 0.05 ? (r() < 0.5 ? -128 : 127) : int(r, -127, 127)));
  // Half the models requantize like a trained one (hidden units mostly inside 0..127, so rounding and
  // clamping both matter), half anywhere in the legal range (mostly saturated).
  const realistic = r() < 0.5;
  const hMul = realistic ? int(r, 1 << 10, 1 << 16) : r() < 0.3 ? int(r, S32_MIN, S32_MAX) : int(r, 1, 1 << 20);
  const hShift = realistic ? Math.min(31, Math.floor(Math.log2(hMul)) + int(r, 6, 12)) : int(r, 1, 31);
  return {
    version,
    featureSpec: FEATURE_SPEC,
    nIn,
    nHidden,
    hMul,
    hShift,
    b2: int(r, -(2 ** 30) + 1, 2 ** 30 - 1),
    threshold: int(r, S32_MIN, S32_MAX),
    inZero: Int32Array.from({ length: nIn }, () => (r() < 0.3 ? int(r, S32_MIN, S32_MAX) : int(r, -1000, 1000))),
    inMul: Int32Array.from({ length: nIn }, () => (r() < 0.3 ? int(r, S32_MIN, S32_MAX) : int(r, 1, 1 << 18))),
    b1: Int32Array.from({ length: nHidden }, () => (r() < 0.3 ? int(r, -(2 ** 30) + 1, 2 ** 30 - 1) : int(r, -50000, 50000))),
    w1: w(nHidden * nIn),
    w2: w(nHidden),
    ngramBits: 0,
    ngramShift: 0,
    ngram: new Int8Array(0),
  };
}

/** Inputs that land in every regime: around the zero point (unsaturated), anywhere in s32, extremes. */
function randomFeatures(r: () => number, m: QuantModel): Int32Array {
  return Int32Array.from({ length: MAX_IN }, (_, i) => {
    const roll = r();
    if (roll < 0.1) return r() < 0.5 ? S32_MIN : S32_MAX;
    if (roll < 0.3 || i >= m.nIn) return int(r, S32_MIN, S32_MAX);
    const z = m.inZero[i]!;
    const span = Math.max(1, Math.floor((160 * 65536) / Math.max(1, Math.abs(m.inMul[i]!))));
    return Math.max(S32_MIN, Math.min(S32_MAX, z + int(r, -span, span)));
  });
}

/** Adds an n-gram table of 2^bits rows to m: random int8 weights (5 % at -128 or 127). */
function withTable(r: () => number, m: QuantModel, bits: number, shift: number): QuantModel {
  const ngram = Int8Array.from({ length: (1 << bits) * m.nHidden }, () => (r() < 0.05 ? (r() < 0.5 ? -128 : 127) : int(r, -127, 127)));
  return { ...m, ngramBits: bits, ngramShift: shift, ngram };
}

function writeModel(slot: number, m: QuantModel): void {
  obj.map("mlp_models").update(u32(slot), encodeModel({ ...m, version: 0n }));
  const rows = encodeNgramRows(m);
  if (rows.length > 0) obj.map("stoq_ngrams").updateBatch(ngramKeys(slot, rows.length), rows);
  obj.map("mlp_models").update(u32(slot), encodeModel(m));
}

/**
 * A bag of trigram keys (region * 2^18 + a * 2^12 + b * 2^6 + c) and the rows the reference gives them;
 * tldKey follows the keys in the frame as the name walk leaves it, and tldRows are the rows of a model
 * with the TLD row (the trigrams' and the TLD's).
 */
interface Bag {
  keys: Uint32Array;
  rows: Uint16Array;
  tldKey: number;
  tldRows: Uint16Array;
}

function bagOf(keys: number[], bits: number, tldKey = NGRAM_TLD_MARK): Bag {
  const rows = keys.map((k) => ngramBucket(k >> 18, (k >> 12) & 63, (k >> 6) & 63, k & 63, bits));
  return { keys: Uint32Array.from(keys), rows: Uint16Array.from(rows), tldKey, tldRows: Uint16Array.from([...rows, ngramKeyRow(tldKey, bits)]) };
}

/**
 * Random bags: empty, short, long, full (`most` keys: 252, or 251 for a model with the TLD row, whose
 * 252nd row is the TLD's), and `most` copies of one key (one row summed that many times).
 */
function randomBag(r: () => number, bits: number, most = NGRAM_MAX_PER_NAME): Bag {
  const key = (): number => int(r, 0, 1) * 2 ** 18 + int(r, 0, 63) * 4096 + int(r, 0, 63) * 64 + int(r, 0, 63);
  const roll = r();
  if (roll < 0.05) return bagOf([], bits);
  if (roll < 0.15) return bagOf(new Array<number>(most).fill(key()), bits, (NGRAM_TLD_MARK | int(r, 0, 2 ** 31 - 1)) >>> 0);
  const n = roll < 0.25 ? most : roll < 0.6 ? int(r, 1, 40) : int(r, 1, most);
  return bagOf(Array.from({ length: n }, key), bits, (NGRAM_TLD_MARK | int(r, 0, 2 ** 31 - 1)) >>> 0);
}

/** Bit 31 of the frame's slot: the harness zeroes the slot's version between the table sum and the reread. */
const RACE = 0x80000000;

function kernelScore(slot: number, f: Int32Array, bag: Bag = bagOf([], NGRAM_MIN_BITS)): { score: number; err: number } {
  const frame = Buffer.alloc(4 + 4 * MAX_IN + 4 + 4 * (bag.keys.length + 1));
  frame.writeUInt32LE(slot >>> 0, 0);
  f.forEach((v, i) => frame.writeInt32LE(v, 4 + 4 * i));
  frame.writeUInt32LE(bag.keys.length, 4 + 4 * MAX_IN);
  bag.keys.forEach((k, i) => frame.writeUInt32LE(k, 8 + 4 * MAX_IN + 4 * i));
  frame.writeUInt32LE(bag.tldKey, 8 + 4 * MAX_IN + 4 * bag.keys.length);
  const r = prog.testRun({ data: frame });
  assert.equal(r.retval, XDP_PASS);
  return { score: r.dataOut.readInt32LE(0), err: r.dataOut.readUInt32LE(4) };
}

test("kernel score equals the TypeScript reference on 12,000 random vectors over 120 random models", () => {
  const r = rng(0x5e0c0de5n);
  const models = obj.map("mlp_models");
  let checked = 0;
  for (let k = 0; k < 120; k++) {
    const slot = k % 3;
    const m = randomModel(r, BigInt(k + 1));
    models.update(u32(slot), encodeModel(m));
    for (let v = 0; v < 100; v++) {
      const f = randomFeatures(r, m);
      const got = kernelScore(slot, f);
      assert.equal(got.err, 0, `model ${k} refused`);
      assert.equal(got.score, score(m, f, null), `model ${k} (n_in ${m.nIn}, n_hidden ${m.nHidden}) vector ${v}: ${Array.from(f).join(",")}`);
      checked++;
    }
  }
  assert.equal(checked, 12000);
});

test("with n-gram tables: kernel score equals the reference on 6,000 random vectors and trigram bags over 60 models", () => {
  const r = rng(0x6e6772616dn);
  let checked = 0;
  const words = new Set<number>();
  for (let k = 0; k < 60; k++) {
    const slot = k % 3;
    const base = randomModel(r, BigInt(10_000 + k));
    // Every word count (n_hidden 1..64), every table size; shifts mostly where the sums still show.
    const m = withTable(r, base, k < 9 ? NGRAM_MIN_BITS + k : int(r, NGRAM_MIN_BITS, 10), r() < 0.7 ? int(r, 0, 5) : int(r, 0, NGRAM_MAX_SHIFT));
    words.add(Math.ceil(m.nHidden / 8));
    writeModel(slot, m);
    for (let v = 0; v < 100; v++) {
      const f = randomFeatures(r, m);
      const bag = randomBag(r, m.ngramBits);
      const got = kernelScore(slot, f, bag);
      assert.equal(got.err, 0, `model ${k} refused`);
      assert.equal(
        got.score,
        score(m, f, bag.rows),
        `model ${k} (n_in ${m.nIn}, n_hidden ${m.nHidden}, bits ${m.ngramBits}, shift ${m.ngramShift}) vector ${v}, ${bag.keys.length} trigrams`,
      );
      checked++;
    }
  }
  assert.equal(checked, 6000);
  assert.equal(words.size, 8, "every word count 1..8 was exercised");
});

test("with the TLD row: kernel score equals the reference on 3,000 random vectors and bags over 30 models; the flag off ignores the TLD key", () => {
  const r = rng(0x746c64n);
  for (let k = 0; k < 30; k++) {
    const slot = k % 3;
    const plain = withTable(r, randomModel(r, BigInt(40_000 + 2 * k)), int(r, NGRAM_MIN_BITS, 10), int(r, 0, 5));
    const m: QuantModel = { ...plain, version: plain.version + 1n, ngramTld: true };
    for (const [model, tld] of [[plain, false], [m, true]] as const) {
      writeModel(slot, model);
      for (let v = 0; v < 50; v++) {
        const f = randomFeatures(r, model);
        const bag = randomBag(r, model.ngramBits, NGRAM_MAX_PER_NAME - 1);
        const got = kernelScore(slot, f, bag);
        assert.equal(got.err, 0, `model ${k} refused`);
        const rows = tld ? bag.tldRows : bag.rows;
        assert.equal(got.score, score(model, f, rows), `model ${k} tld ${tld} (n_hidden ${model.nHidden}, bits ${model.ngramBits}) vector ${v}, ${bag.keys.length} trigrams`);
      }
    }
  }
  // A TLD key whose row is all 127s shows in the score only with the flag.
  const base = withTable(r, randomModel(r, 41_000n), 6, 4);
  const bag = bagOf([], 6, (NGRAM_TLD_MARK | 12345) >>> 0);
  const ngram = new Int8Array(base.ngram.length);
  ngram.fill(127, ngramKeyRow(bag.tldKey, 6) * base.nHidden, (ngramKeyRow(bag.tldKey, 6) + 1) * base.nHidden);
  const w2 = new Int8Array(base.nHidden).fill(100);
  const b1 = new Int32Array(base.nHidden);
  const a = { ...base, ngram, w2, b1, hMul: 1 << 16, hShift: 16 };
  const f = new Int32Array(MAX_IN);
  writeModel(0, a);
  const off = kernelScore(0, f, bag);
  writeModel(0, { ...a, version: 41_001n, ngramTld: true });
  const on = kernelScore(0, f, bag);
  assert.equal(on.score, score({ ...a, ngramTld: true }, f, bag.tldRows));
  assert.ok(on.score > off.score, `the TLD row adds: ${off.score} -> ${on.score}`);
});

test("n-gram sums at their bounds: 252 rows of -128 or of 127, shift 16, every unit, stay exact", () => {
  const r = rng(4242n);
  for (const [i, [fill, hMul, b1]] of ([
    [-128, -1, -(2 ** 30) + 1],
    [127, 1, 2 ** 30 - 1],
    [-128, -(2 ** 31), 0],
    [127, 2 ** 31 - 1, 0],
  ] as const).entries()) {
    const nHidden = MAX_HIDDEN;
    const m: QuantModel = {
      ...randomModel(r, 20_000n + BigInt(i)),
      nHidden,
      hMul,
      hShift: 31,
      b1: new Int32Array(nHidden).fill(b1),
      w1: new Int8Array(nHidden * MAX_IN).fill(fill),
      w2: Int8Array.from({ length: nHidden }, (_, j) => (j % 2 === 0 ? 127 : -128)),
      ngramBits: 6,
      ngramShift: NGRAM_MAX_SHIFT,
      ngram: new Int8Array(64 * nHidden).fill(fill),
    };
    m.nIn = MAX_IN;
    m.inZero = new Int32Array(MAX_IN);
    m.inMul = new Int32Array(MAX_IN).fill(65536);
    writeModel(0, m);
    const f = new Int32Array(MAX_IN).fill(127);
    const bag = bagOf(new Array<number>(NGRAM_MAX_PER_NAME).fill(7), 6);
    assert.deepEqual(kernelScore(0, f, bag), { score: score(m, f, bag.rows), err: 0 }, `fill ${fill}, h_mul ${hMul}`);
  }
});

test("a slot rewritten while its table rows are summed passes unscored (model_changed); a table-less model needs no reread", () => {
  const r = rng(31337n);
  const m = withTable(r, randomModel(r, 30_000n), 8, 3);
  writeModel(1, m);
  const f = randomFeatures(r, m);
  const bag = randomBag(r, 8);
  assert.deepEqual(kernelScore(1, f, bag), { score: score(m, f, bag.rows), err: 0 });
  assert.deepEqual(kernelScore(1 | RACE, f, bag), { score: 0, err: STAT.unscored_model_changed });
  assert.deepEqual(kernelScore(1, f, bag), { score: 0, err: STAT.unscored_no_model }, "the racing writer left version 0");
  writeModel(1, { ...m, version: 30_001n });
  assert.deepEqual(kernelScore(1, f, bag), { score: score(m, f, bag.rows), err: 0 }, "the finished rewrite scores again");
  const plain = randomModel(r, 30_002n);
  writeModel(2, plain);
  assert.deepEqual(kernelScore(2 | RACE, f), { score: score(plain, f, null), err: 0 }, "no table: the copy alone is consistent");
});

test("a model rewritten in place under the same slot is re-derived when its version changes", () => {
  const r = rng(77n);
  const a = randomModel(r, 1000n);
  const b = { ...randomModel(r, 1001n) };
  const f = randomFeatures(r, a);
  obj.map("mlp_models").update(u32(0), encodeModel(a));
  assert.equal(kernelScore(0, f).score, score(a, f, null));
  obj.map("mlp_models").update(u32(0), encodeModel(b));
  assert.equal(kernelScore(0, f).score, score(b, f, null));
});

test("models the kernel cannot score are refused with the reason it counts", () => {
  const r = rng(99n);
  const good = randomModel(r, 2000n);
  const cases: [string, Buffer, number][] = [
    ["empty slot (version 0)", Buffer.alloc(MODEL_LAYOUT.size), STAT.unscored_no_model],
    ["another feature_spec", patch(encodeModel({ ...good, version: 2001n }), "feature_spec", 2), STAT.unscored_feature_spec],
    ["n_in 0", patch(encodeModel({ ...good, version: 2002n }), "n_in", 0), STAT.unscored_model_shape],
    ["n_in 33", patch(encodeModel({ ...good, version: 2003n }), "n_in", 33), STAT.unscored_model_shape],
    ["n_hidden 65", patch(encodeModel({ ...good, version: 2004n }), "n_hidden", 65), STAT.unscored_model_shape],
    ["h_shift 0", patch(encodeModel({ ...good, version: 2005n }), "h_shift", 0), STAT.unscored_model_shape],
    ["h_shift 32", patch(encodeModel({ ...good, version: 2006n }), "h_shift", 32), STAT.unscored_model_shape],
    ["ngram_bits 5", patch(encodeModel({ ...good, version: 2007n }), "ngram_bits", 5), STAT.unscored_model_shape],
    ["ngram_bits 15", patch(encodeModel({ ...good, version: 2008n }), "ngram_bits", 15), STAT.unscored_model_shape],
    ["ngram_shift 17", patch(patch(encodeModel({ ...good, version: 2009n }), "ngram_bits", 8), "ngram_shift", 17), STAT.unscored_model_shape],
    ["ngram_shift without a table", patch(encodeModel({ ...good, version: 2010n }), "ngram_shift", 1), STAT.unscored_model_shape],
    ["ngram_flags without a table", patch(encodeModel({ ...good, version: 2011n }), "ngram_flags", 1), STAT.unscored_model_shape],
    ["unknown ngram_flags", patch(patch(encodeModel({ ...good, version: 2012n }), "ngram_bits", 8), "ngram_flags", 2), STAT.unscored_model_shape],
  ];
  for (const [what, bytes, reason] of cases) {
    obj.map("mlp_models").update(u32(1), bytes);
    assert.deepEqual(kernelScore(1, new Int32Array(MAX_IN)), { score: 0, err: reason }, what);
  }
});

function patch(b: Buffer, field: "feature_spec" | "n_in" | "n_hidden" | "h_shift" | "ngram_bits" | "ngram_flags" | "ngram_shift", v: number): Buffer {
  if (MODEL_LAYOUT.fields[field].size === 1) b.writeUInt8(v, MODEL_LAYOUT.fields[field].offset);
  else if (MODEL_LAYOUT.fields[field].size === 2) b.writeUInt16LE(v, MODEL_LAYOUT.fields[field].offset);
  else b.writeUInt32LE(v, MODEL_LAYOUT.fields[field].offset);
  return b;
}

/** Names of the shared data: `column` of a CSV with a header, or the second field of a headerless one. */
function names(path: string, column: number, header: boolean, every: number, limit: number): string[] {
  const lines = readFileSync(new URL(`../../../shared/data/${path}`, import.meta.url), "utf8").split("\n");
  const out: string[] = [];
  for (let i = header ? 1 : 0; i < lines.length && out.length < limit; i += every) {
    const name = lines[i]?.split(",")[column]?.trim();
    if (name) out.push(name);
  }
  return out;
}

/** A model over the 16 name features whose hidden units mostly stay inside 0..127, so a wrong row shows. */
function nameModel(r: () => number, version: bigint, nHidden: number, bits: number, shift: number): QuantModel {
  const nIn = 16;
  const m: QuantModel = {
    version,
    featureSpec: FEATURE_SPEC,
    nIn,
    nHidden,
    hMul: int(r, 1 << 12, 1 << 14),
    hShift: 20,
    b2: int(r, -5000, 5000),
    threshold: 0,
    inZero: new Int32Array(nIn),
    inMul: Int32Array.from({ length: nIn }, () => int(r, 1 << 8, 1 << 12)),
    b1: Int32Array.from({ length: nHidden }, () => int(r, 0, 60_000)),
    w1: Int8Array.from({ length: nHidden * nIn }, () => int(r, -20, 20)),
    w2: Int8Array.from({ length: nHidden }, () => int(r, -127, 127)),
    ngramBits: 0,
    ngramShift: 0,
    ngram: new Int8Array(0),
  };
  return withTable(r, m, bits, shift);
}

test("the whole XDP program scores 4,000 real names (benign, DGA, tunnel) with table models as the reference does", async () => {
  const k = StoqKernel.open({ maxEntries: { stoq_events: 16 << 20 } });
  try {
    const all = [
      ...names("domains/benign.csv", 0, true, 53, 1200),
      ...names("domains/dga.csv", 0, true, 499, 1200),
      ...names("dns-tunnel/netrack/test.csv", 1, false, 3, 1600),
      // TLD edge cases, each model meets them: case, second-level suffixes, one label, the longest name.
      ...Array.from({ length: 6 }, () => ["xpun.NL", "gsrz.Com.Co", "fmval.com.mt", "LOCALHOST", "gunatcea.ru", `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`]).flat(),
    ];
    const r = rng(0xd06an);
    const shapes: [number, number, number, boolean][] = [
      [8, 6, 6, false],
      [16, 10, 5, true],
      [24, 12, 4, false],
      [32, 14, 4, true],
      [57, 13, 3, true],
      [64, 11, 2, false],
    ];
    let scored = 0;
    let withRows = 0;
    for (const [i, [nHidden, bits, shift, tld]] of shapes.entries()) {
      const m = { ...nameModel(r, BigInt(i + 1), nHidden, bits, shift), ...(tld ? { ngramTld: true } : {}) };
      k.setModel(0, m);
      k.setControl({ active: 0, mode: MODE.observe, shadow: 0 });
      const batch = all.filter((_, j) => j % shapes.length === i);
      let sent = 0;
      for (const [j, name] of batch.entries()) {
        const wire = encodeName(name);
        if (wire === null) continue;
        const frame = buildPacket({
          ipv4: { src: `198.18.${20 + i}.${1 + (j % 200)}`, dst: "198.18.0.53" },
          udp: { sport: 30000 + (j % 20000), dport: 53 },
          dns: { id: j & 0xffff, qnameHex: Buffer.from(wire).toString("hex") },
        });
        k.run("xdpIngress", frame);
        sent++;
      }
      const events = (await k.takeAllEvents()).filter((e): e is DnsEvent => e.kind === EVENT_KIND.dns);
      assert.equal(events.length, sent);
      for (const e of events) {
        const wire = e.msg.subarray(12);
        const rows = ngramRowsFor(m, wire);
        if (e.unscored !== 0) {
          assert.equal(rows, null, `unscored (${e.unscored}) though the reference walks it`);
          continue;
        }
        assert.equal(e.modelVersion, m.version);
        assert.equal(e.score, score(m, e.features, rows), `n_hidden ${nHidden} bits ${bits} tld ${tld}: ${wire.toString("latin1")}`);
        scored++;
        if (rows !== null && rows.length > 0) withRows++;
      }
    }
    assert.ok(scored >= 3900, `only ${scored} names scored`);
    assert.ok(withRows >= scored - 10, `${withRows} of ${scored} names had trigrams`);
    assert.equal(k.stats("xdpIngress").unscored_model_changed, 0n);
  } finally {
    await k.close();
  }
});
