// The hashed character-trigram bag of a query name (model n-gram table, docs/feature-spec.md): which
// table rows the kernel adds into the first layer for one name, and the optional TLD row. Kept in sync with
// the kernel's n-gram code.
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
/**
 * The TLD row's key carries bit 31: trigram keys are below 2^19, so a TLD and a trigram never share a key
 * (their rows may still collide, as any two keys may, through the hash).
 */
export const NGRAM_TLD_MARK = 0x80000000;
/** ngram_flags bit 0 of a model (STOQ_NGRAM_FLAG_TLD): its table holds the TLD row as well. */
export const NGRAM_FLAG_TLD = 1;
/** FNV-1a (32-bit) offset basis and prime: the TLD's key is the hash of its bytes. */
const FNV32_OFFSET = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/** Row of trigram (a, b, c) in region r for a table of 2^bits rows; symbols (< 40) take 6 bits each. */
export function ngramBucket(region: number, a: number, b: number, c: number, bits: number): number {
  return ngramKeyRow((((region * 64 + a) * 64 + b) * 64 + c) >>> 0, bits);
}

/** Row of a key (a trigram's or the TLD's) for a table of 2^bits rows: Fibonacci hashing. */
export function ngramKeyRow(key: number, bits: number): number {
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
 * Key of the TLD row: FNV-1a over the wire bytes from the TLD's length byte through the root label, ASCII
 * letters folded to lower case (the bytes the distinct-names hash ends with), with NGRAM_TLD_MARK set.
 * The kernel has no public-suffix list: the TLD is the last label, and a second-level suffix (com.mt,
 * co.nz) shows as the SLD's trigrams.
 */
export function ngramTldKey(wire: Uint8Array, tldLengthByte: number, end: number): number {
  let h = FNV32_OFFSET;
  for (let i = tldLengthByte; i < end; i++) {
    let b = wire[i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    h = Math.imul(h ^ b, FNV32_PRIME) >>> 0;
  }
  return (h | NGRAM_TLD_MARK) >>> 0;
}

/**
 * Table rows for a wire name, SLD region first, then the sub part (regions as in nameFeatures: TLD =
 * last label, not read by the trigrams; SLD = the label before it; sub = all labels left of the SLD),
 * then, when `tld` is set (a model with the TLD row, ngram_flags bit 0), one row for the TLD itself:
 * (ngramTldKey * NGRAM_HASH_MUL mod 2^32) >> (32 - bits), the trigrams' row formula. Null where the kernel
 * passes the packet unscored. Rows repeat when a trigram repeats: the bag is a sum. At most
 * NGRAM_MAX_PER_NAME - 2 trigrams, so at most NGRAM_MAX_PER_NAME - 1 rows with the TLD's.
 */
export function ngramRows(wire: Uint8Array, bits: number, start = 0, tld = false): Uint16Array | null {
  if (!Number.isInteger(bits) || bits < NGRAM_MIN_BITS || bits > NGRAM_MAX_BITS) {
    throw new RangeError(`ngram bits ${bits} is outside ${NGRAM_MIN_BITS}..${NGRAM_MAX_BITS}`);
  }
  const w = walkWireName(wire, start);
  if (w === null) return null;
  const L = w.offsets.length;
  const out: number[] = [];
  addRegion(wire, w.offsets, w.lengths, Math.max(0, L - 2), L - 1, NGRAM_REGION_SLD, bits, out);
  addRegion(wire, w.offsets, w.lengths, 0, Math.max(0, L - 2), NGRAM_REGION_SUB, bits, out);
  if (tld) out.push(ngramKeyRow(ngramTldKey(wire, w.offsets[L - 1]! - 1, start + w.wireLen), bits));
  return Uint16Array.from(out);
}
