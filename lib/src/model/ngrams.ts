// The hashed character-trigram bag of a query name (model n-gram table, docs/feature-spec.md): which
// table rows the kernel adds into the first layer for one name. Kept in sync with the kernel's n-gram code.
import { SYM, SYM_BOUNDARY } from "./feature-tables.js";
import { walkWireName } from "./features.js";

/** Region ids mixed into the key, so "abc" in the SLD and "abc" in the sub part are different trigrams. */
export const NGRAM_REGION_SLD = 0;
export const NGRAM_REGION_SUB = 1;
/** log2 of the table rows a model may use; 0 in a model means "no n-gram table". */
export const NGRAM_MIN_BITS = 6;
export const NGRAM_MAX_BITS = 14;
/** Fibonacci hashing multiplier (2^32 / golden ratio): spreads the 18-bit key over the high bits. */
export const NGRAM_HASH_MUL = 0x9e3779b1;
/**
 * Upper bound of trigrams in one name: a region whose labels take B bytes with their length bytes yields
 * B - 1 triples, and SLD plus sub part take at most 255 - 1 (final 0) - 2 (shortest TLD) = 252 bytes.
 * 252 · 255 < 2^16, so the kernel's biased 16-bit lane sums cannot overflow.
 */
export const NGRAM_MAX_PER_NAME = 252;

/** Row of trigram (a, b, c) in region r for a table of 2^bits rows; symbols (< 40) take 6 bits each. */
export function ngramBucket(region: number, a: number, b: number, c: number, bits: number): number {
  const key = (((region * 64 + a) * 64 + b) * 64 + c) >>> 0;
  return Math.imul(key, NGRAM_HASH_MUL) >>> (32 - bits);
}

/**
 * Appends the rows of one region: labels [from, to) read as B s(label) B s(label) ... B with B the
 * boundary symbol, one row per consecutive triple. An empty region adds nothing.
 */
function addRegion(wire: Uint8Array, offsets: readonly number[], lengths: readonly number[], from: number, to: number, region: number, bits: number, out: number[]): void {
  if (from >= to) return;
  let a = -1;
  let b = SYM_BOUNDARY;
  for (let li = from; li < to; li++) {
    const off = offsets[li]!;
    const n = lengths[li]!;
    for (let i = 0; i <= n; i++) {
      const c = i < n ? SYM[wire[off + i]!]! : SYM_BOUNDARY;
      if (a >= 0) out.push(ngramBucket(region, a, b, c, bits));
      a = b;
      b = c;
    }
  }
}

/**
 * Table rows for a wire name, SLD region first, then the sub part (regions as in nameFeatures: TLD =
 * last label, never read; SLD = the label before it; sub = all labels left of the SLD). Null where the
 * kernel passes the packet unscored. Rows repeat when a trigram repeats: the bag is a sum.
 */
export function ngramRows(wire: Uint8Array, bits: number, start = 0): Uint16Array | null {
  if (!Number.isInteger(bits) || bits < NGRAM_MIN_BITS || bits > NGRAM_MAX_BITS) {
    throw new RangeError(`ngram bits ${bits} is outside ${NGRAM_MIN_BITS}..${NGRAM_MAX_BITS}`);
  }
  const w = walkWireName(wire, start);
  if (w === null) return null;
  const L = w.offsets.length;
  const out: number[] = [];
  addRegion(wire, w.offsets, w.lengths, Math.max(0, L - 2), L - 1, NGRAM_REGION_SLD, bits, out);
  addRegion(wire, w.offsets, w.lengths, 0, Math.max(0, L - 2), NGRAM_REGION_SUB, bits, out);
  return Uint16Array.from(out);
}
