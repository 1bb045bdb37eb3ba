import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeName } from "../../src/model/features.js";
import { NGRAM_HASH_MUL, NGRAM_MAX_PER_NAME, NGRAM_REGION_SLD, NGRAM_REGION_SUB, NGRAM_TLD_MARK, ngramBucket, ngramKeyRow, ngramRows, ngramTldKey } from "../../src/model/ngrams.js";
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

/** FNV-1a by the book over bytes, for the TLD key. */
function fnv1a(bytes: readonly number[]): number {
  let h = 0x811c9dc5n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) % 2n ** 32n;
  return Number(h);
}

test("TLD row: FNV-1a of the TLD's length byte, letters lower-cased and the root byte, bit 31 set, appended after the trigrams", () => {
  const bits = 14;
  const wire = encodeName("fmval.com.MT")!;
  const key = (fnv1a([2, 0x6d, 0x74, 0]) | NGRAM_TLD_MARK) >>> 0;
  assert.equal(ngramTldKey(wire, 10, wire.length), key);
  assert.equal(ngramKeyRow(key, bits), Number((BigInt(key) * BigInt(NGRAM_HASH_MUL)) % 2n ** 32n >> 18n));
  const plain = ngramRows(wire, bits)!;
  const withTld = ngramRows(wire, bits, 0, true)!;
  assert.deepEqual([...withTld], [...plain, ngramKeyRow(key, bits)]);
  assert.deepEqual([...ngramRows(encodeName("ab.ru")!, bits, 0, true)!].at(-1), [...ngramRows(encodeName("xyz.RU")!, bits, 0, true)!].at(-1), "one row per TLD, case folded");
  assert.notDeepEqual([...ngramRows(encodeName("ab.ru")!, bits, 0, true)!], [...ngramRows(encodeName("ab.nl")!, bits, 0, true)!]);
  assert.deepEqual([...ngramRows(encodeName("localhost")!, bits, 0, true)!], [ngramKeyRow(ngramTldKey(encodeName("localhost")!, 0, 11), bits)], "a lone label is its own TLD");
  // Trigram keys are below 2^19, TLD keys at or above 2^31: never the same key.
  assert.ok(((((1 * 64 + 63) * 64 + 63) * 64 + 63)) < 2 ** 19 && key >= NGRAM_TLD_MARK);
});

test("TLD row from a name inside a message (start offset) and in the longest name: at most NGRAM_MAX_PER_NAME - 1 rows", () => {
  const wire = encodeName("gunatcea.ru")!;
  const msg = new Uint8Array(12 + wire.length);
  msg.set(wire, 12);
  assert.deepEqual([...ngramRows(msg, 12, 12, true)!], [...ngramRows(wire, 12, 0, true)!]);
  const label = "a".repeat(63);
  const longest = encodeName(`${label}.${label}.${label}.${"b".repeat(59)}.c`)!;
  assert.equal(ngramRows(longest, 10, 0, true)!.length, NGRAM_MAX_PER_NAME - 1);
});
