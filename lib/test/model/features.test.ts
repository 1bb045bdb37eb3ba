import assert from "node:assert/strict";
import { test } from "node:test";
import { loadBigramTable, bigramSha256 } from "../../src/model/bigram.js";
import { NLOG, RECIP, SYM, SYMBOLS } from "../../src/model/feature-tables.js";
import {
  FEATURE,
  FEATURES,
  FEATURE_COUNT,
  encodeName,
  featureVector,
  nameFeatures,
  nameFeaturesOf,
  nameHash,
  walkWireName,
} from "../../src/model/features.js";

// A synthetic table whose entries are easy to add by hand: BIGRAM[p][c] = -(100 * p + c).
const T = new Int16Array(SYMBOLS * SYMBOLS);
for (let p = 0; p < SYMBOLS; p++) for (let c = 0; c < SYMBOLS; c++) T[p * SYMBOLS + c] = -(100 * p + c);

function f(name: string, table: Int16Array = T): Int32Array {
  const v = nameFeaturesOf(name, table);
  assert.ok(v !== null, name);
  return v;
}

test("the symbol map folds case and separates digits, hyphen, underscore and the rest", () => {
  assert.equal(SYM[0x61], 1);
  assert.equal(SYM[0x41], 1);
  assert.equal(SYM[0x7a], 26);
  assert.equal(SYM[0x30], 27);
  assert.equal(SYM[0x39], 36);
  assert.equal(SYM[0x2d], 37);
  assert.equal(SYM[0x5f], 38);
  for (const b of [0x2b, 0x2f, 0x3d, 0x2e, 0x80, 0xff, 0x00]) assert.equal(SYM[b], 39);
});

test("tables: reciprocals are exact floors, n·log2 n values are never near a rounding tie", () => {
  assert.equal(RECIP[0], 0);
  assert.equal(RECIP[1], 65536);
  assert.equal(RECIP[3], 21845);
  assert.equal(RECIP[255], 257);
  assert.equal(NLOG[2], 512);
  assert.equal(NLOG[4], 2048);
  for (let n = 2; n < 256; n++) {
    const exact = 256 * n * Math.log2(n);
    assert.ok(Math.abs((exact % 1) - 0.5) > 1e-6, `NLOG[${n}] is ambiguous`);
  }
});

test("sld-only name: every SLD feature computed by hand", () => {
  // "ab1c.io": SLD = a b 1 c (syms 1 2 28 3), TLD = io.
  const v = f("ab1c.io");
  assert.equal(v[FEATURE.SUB_LEN], 0);
  assert.equal(v[FEATURE.SUB_LABELS], 0);
  assert.equal(v[FEATURE.SUB_BIGRAM], 0);
  assert.equal(v[FEATURE.SLD_LEN], 4);
  // bigrams (0,1) (1,2) (2,28) (28,3) (3,0) = -1 -102 -228 -2803 -300 = -3434 over 5
  assert.equal(v[FEATURE.SLD_BIGRAM], Math.floor((-3434 * 13107) / 65536));
  assert.equal(v[FEATURE.SLD_BIGRAM_MIN], -2803);
  // four distinct symbols: entropy 2 bits = 512, via (NLOG[4] - 0) * RECIP[4] >> 16
  assert.equal(v[FEATURE.SLD_ENTROPY], 512);
  assert.equal(v[FEATURE.SLD_DIGITS], 64);
  assert.equal(v[FEATURE.SLD_VOWELS], 64);
  assert.equal(v[FEATURE.SLD_CONS_RUN], 1);
  assert.equal(v[FEATURE.TLD_LEN], 2);
  assert.equal(v[FEATURE.IDN], 0);
});

test("sub region: labels left of the last two, other bytes, entropy with repeats, IDN", () => {
  // SUB = "xN--a+" "9" ; SLD = "co" ; TLD = "uk"
  const v = f("xN--a+.9.co.uk");
  assert.equal(v[FEATURE.SUB_LEN], 7);
  assert.equal(v[FEATURE.SUB_LABELS], 2);
  assert.equal(v[FEATURE.SUB_MAX_LABEL], 6);
  assert.equal(v[FEATURE.IDN], 1);
  assert.equal(v[FEATURE.SUB_DIGITS], Math.floor((1 * RECIP[7]!) / 256));
  assert.equal(v[FEATURE.SUB_OTHER], Math.floor((1 * RECIP[7]!) / 256));
  // symbols x n - - a + 9 = 24 14 37 37 1 39 36: counts 1,1,2,1,1,1
  const s = NLOG[2]!;
  assert.equal(v[FEATURE.SUB_ENTROPY], Math.floor(((NLOG[7]! - s) * RECIP[7]!) / 65536));
  // bigrams label 1: (0,24) (24,14) (14,37) (37,37) (37,1) (1,39) (39,0); label 2: (0,36) (36,0)
  const sum = -24 - 2414 - 1437 - 3737 - 3701 - 139 - 3900 - 36 - 3600;
  assert.equal(v[FEATURE.SUB_BIGRAM], Math.floor((sum * RECIP[9]!) / 65536));
  assert.equal(v[FEATURE.SLD_LEN], 2);
  assert.equal(v[FEATURE.TLD_LEN], 2);
});

test("consonant runs stop at vowels, digits and label ends; y is a consonant", () => {
  assert.equal(f("bcdfyaxz.com")[FEATURE.SLD_CONS_RUN], 5);
  assert.equal(f("ab2cd.com")[FEATURE.SLD_CONS_RUN], 2);
});

test("the shipped bigram table gives the documented www.google.com example", () => {
  const t = loadBigramTable();
  const v = f("www.google.com", t);
  assert.deepEqual(Array.from(v.subarray(0, 4)), [3, 1, 3, -1343]);
  assert.equal(v[FEATURE.SLD_VOWELS], 127);
  assert.equal(v[FEATURE.SLD_CONS_RUN], 2);
  assert.equal(bigramSha256(t), "eb507a5e8a8c1c6bd17637e5a283937362594c9201a3d1d91ef2aaffb8755931");
});

test("case does not change name features; a trailing dot is the same name", () => {
  assert.deepEqual(f("WwW.GooGle.COM"), f("www.google.com."));
});

test("wire walk refuses what the kernel passes unscored", () => {
  assert.equal(walkWireName(Uint8Array.of(0)), null, "root");
  assert.equal(walkWireName(Uint8Array.of(0xc0, 0x0c)), null, "pointer");
  assert.equal(walkWireName(Uint8Array.of(64, ...new Uint8Array(64), 0)), null, "label > 63");
  assert.equal(walkWireName(Uint8Array.of(3, 0x61, 0x62)), null, "truncated");
  const long = new Uint8Array(4 * 64 + 1);
  for (let i = 0; i < 4; i++) long[i * 64] = 63;
  assert.equal(walkWireName(long), null, "256-byte name");
  const max = new Uint8Array(255);
  for (let i = 0; i < 4; i++) max[i * 64] = i < 3 ? 63 : 61;
  max.fill(0x61, 193, 254);
  for (let i = 0; i < 3; i++) max.fill(0x61, i * 64 + 1, i * 64 + 64);
  const w = walkWireName(max);
  assert.ok(w !== null);
  assert.equal(w.wireLen, 255);
  assert.equal(nameFeatures(max, T)?.[FEATURE.SUB_LEN], 126);
});

test("encodeName: wire form, UTF-8 labels, limits", () => {
  assert.deepEqual(Array.from(encodeName("a.bc")!), [1, 0x61, 2, 0x62, 0x63, 0]);
  assert.deepEqual(Array.from(encodeName("é.x")!), [2, 0xc3, 0xa9, 1, 0x78, 0]);
  assert.equal(encodeName("a..b"), null);
  assert.equal(encodeName("a".repeat(64) + ".com"), null);
  assert.equal(encodeName(""), null);
});

test("single-label names have only a TLD", () => {
  const v = f("localhost");
  assert.equal(v[FEATURE.TLD_LEN], 9);
  assert.equal(v[FEATURE.SLD_LEN], 0);
  assert.equal(v[FEATURE.SUB_LEN], 0);
});

test("name hash is FNV-1a over the folded wire bytes", () => {
  // FNV-1a of [1, 0x61, 0] computed step by step.
  let h = 0x811c9dc5;
  for (const b of [1, 0x61, 0]) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  assert.equal(nameHash(encodeName("A")!), h);
  assert.equal(nameHash(encodeName("a")!), h);
});

test("feature vector: groups land at their indices and stay within their documented ranges", () => {
  const name = f("www.google.com");
  const v = featureVector(name, { qtype: 16, dnsLen: 70000 }, Int32Array.of(1, 2, 3, 4, 5, 6, 7), Int32Array.of(1, 9, 3));
  assert.equal(v.length, FEATURE_COUNT);
  assert.equal(v[FEATURE.QTYPE_ADDR], 0);
  assert.equal(v[FEATURE.QTYPE_TUNNEL], 1);
  assert.equal(v[FEATURE.QUERY_SIZE], 65535);
  assert.equal(v[FEATURE.SRC_QPS], 1);
  assert.equal(v[FEATURE.SRC_LONG_NAME_RATIO], 7);
  assert.equal(v[FEATURE.FACT_CHAIN_LEN], 3);
  assert.deepEqual(Array.from(v.subarray(29)), [0, 0, 0]);
  const t = loadBigramTable();
  for (const n of ["www.google.com", "q+Z8AnwaBA.hidemyself.org", "x".repeat(63) + "." + "y9-_".repeat(15) + ".co.uk", "xn--80ak6aa92e.com"]) {
    const nv = f(n, t);
    for (let i = 0; i < nv.length; i++) {
      const d = FEATURES[i]!;
      assert.ok(nv[i]! >= d.min && nv[i]! <= d.max, `${n}: ${d.name} = ${nv[i]}`);
    }
  }
});
