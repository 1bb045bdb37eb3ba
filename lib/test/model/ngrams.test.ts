import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeName } from "../../src/model/features.js";
import { NGRAM_MAX_PER_NAME, NGRAM_REGION_SLD, NGRAM_REGION_SUB, ngramBucket, ngramRows } from "../../src/model/ngrams.js";
import { SYM, SYM_BOUNDARY } from "../../src/model/feature-tables.js";

const s = (ch: string): number => SYM[ch.charCodeAt(0)]!;
const B = SYM_BOUNDARY;

test("bucket is the Fibonacci hash of the packed key, in range", () => {
  const key = ((NGRAM_REGION_SUB * 64 + 3) * 64 + 4) * 64 + 5;
  assert.equal(ngramBucket(NGRAM_REGION_SUB, 3, 4, 5, 12), Number((BigInt(key) * 0x9e3779b1n) % 2n ** 32n >> 20n));
  for (let a = 0; a < 40; a++) assert.ok(ngramBucket(NGRAM_REGION_SLD, a, 39, 0, 6) < 64);
});

test("rows: SLD triples first, then the sub part with boundaries between labels; the TLD is never read", () => {
  const rows = ngramRows(encodeName("x.yz.ab.com")!, 14)!;
  const bits = 14;
  const expected = [
    ngramBucket(NGRAM_REGION_SLD, B, s("a"), s("b"), bits),
    ngramBucket(NGRAM_REGION_SLD, s("a"), s("b"), B, bits),
    ngramBucket(NGRAM_REGION_SUB, B, s("x"), B, bits),
    ngramBucket(NGRAM_REGION_SUB, s("x"), B, s("y"), bits),
    ngramBucket(NGRAM_REGION_SUB, B, s("y"), s("z"), bits),
    ngramBucket(NGRAM_REGION_SUB, s("y"), s("z"), B, bits),
  ];
  assert.deepEqual([...rows], expected);
  assert.deepEqual([...ngramRows(encodeName("AB.org")!, bits)!], [...ngramRows(encodeName("ab.net")!, bits)!], "case folds, TLD ignored");
  assert.equal(ngramRows(encodeName("com")!, bits)!.length, 0, "a lone TLD has no SLD or sub part");
});

test("the longest names stay within NGRAM_MAX_PER_NAME; unscorable names give null; bad bits throw", () => {
  const label = "a".repeat(63);
  const longest = encodeName(`${label}.${label}.${label}.${"b".repeat(59)}.c`)!;
  assert.equal(longest.length, 255);
  assert.equal(ngramRows(longest, 10)!.length, NGRAM_MAX_PER_NAME - 2);
  assert.equal(ngramRows(new Uint8Array([0xc0, 0x0c]), 10), null);
  assert.throws(() => ngramRows(encodeName("a.b")!, 5), /outside 6\.\.14/);
  assert.throws(() => ngramRows(encodeName("a.b")!, 15), /outside 6\.\.14/);
});
