// The kernel's quantized MLP (bpf/mlp.h, through the bpf/test_mlp.bpf.c harness) gives bit for bit the
// score of the TypeScript reference (lib/src/model/int8-mlp.ts) on random models and feature vectors,
// including saturating inputs, extreme weights and both unrolled input widths; invalid models are refused.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MAX_HIDDEN, MAX_IN, score, type QuantModel } from "../../lib/src/model/int8-mlp.js";
import { encodeModel, MODEL_LAYOUT } from "../../lib/src/model/layout.js";
import { BpfObject, type BpfProgram } from "../../services/collector/src/bpf.js";
import { FEATURE_SPEC, STAT } from "../../services/collector/src/kernel-layout.js";
import { MLP_TEST_OBJECT, XDP_PASS, buildKernelObjects } from "./kernel.js";

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

function kernelScore(slot: number, f: Int32Array): { score: number; err: number } {
  const frame = Buffer.alloc(4 + 4 * MAX_IN);
  frame.writeUInt32LE(slot, 0);
  f.forEach((v, i) => frame.writeInt32LE(v, 4 + 4 * i));
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
  ];
  for (const [what, bytes, reason] of cases) {
    obj.map("mlp_models").update(u32(1), bytes);
    assert.deepEqual(kernelScore(1, new Int32Array(MAX_IN)), { score: 0, err: reason }, what);
  }
});

function patch(b: Buffer, field: "feature_spec" | "n_in" | "n_hidden" | "h_shift", v: number): Buffer {
  b.writeUInt32LE(v, MODEL_LAYOUT.fields[field].offset);
  return b;
}
