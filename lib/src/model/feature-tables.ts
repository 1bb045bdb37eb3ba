// The constant lookup tables of feature_spec v1 (symbol map, reciprocals, n·log2 n, linear counting)
// that make every nonlinear feature an integer table lookup, identical in the kernel and in TypeScript.
// Kept in sync with docs/feature-spec.md and bpf/feature_tables.h (generated from this file).

/** Symbols of the bigram alphabet: 0 is the virtual label boundary, bytes map to 1..39. */
export const SYM_BOUNDARY = 0;
export const SYM_DIGIT_0 = 27;
export const SYM_HYPHEN = 37;
export const SYM_UNDERSCORE = 38;
export const SYM_OTHER = 39;
export const SYMBOLS = 40;

/** byte -> symbol: letters fold to 1..26 (ASCII case folding), digits 27..36, '-' 37, '_' 38, else 39. */
export const SYM: Uint8Array = (() => {
  const t = new Uint8Array(256).fill(SYM_OTHER);
  for (let i = 0; i < 26; i++) {
    t[0x61 + i] = 1 + i;
    t[0x41 + i] = 1 + i;
  }
  for (let i = 0; i < 10; i++) t[0x30 + i] = SYM_DIGIT_0 + i;
  t[0x2d] = SYM_HYPHEN;
  t[0x5f] = SYM_UNDERSCORE;
  return t;
})();

/** Symbol classes as bit masks over symbol ids, so the kernel tests a class with one shift and one and. */
const VOWEL_LETTERS = "aeiou";
export const VOWEL_MASK: bigint = [...VOWEL_LETTERS].reduce((m, c) => m | (1n << BigInt(c.charCodeAt(0) - 0x60)), 0n);
export const LETTER_MASK: bigint = ((1n << 26n) - 1n) << 1n;
export const CONSONANT_MASK: bigint = LETTER_MASK & ~VOWEL_MASK;
export const DIGIT_MASK: bigint = ((1n << 10n) - 1n) << BigInt(SYM_DIGIT_0);

export function isVowel(s: number): boolean {
  return ((VOWEL_MASK >> BigInt(s)) & 1n) === 1n;
}
export function isConsonant(s: number): boolean {
  return ((CONSONANT_MASK >> BigInt(s)) & 1n) === 1n;
}
export function isDigit(s: number): boolean {
  return s >= SYM_DIGIT_0 && s < SYM_DIGIT_0 + 10;
}

/** RECIP[k] = floor(65536 / k), RECIP[0] = 0: ratios and means become one multiply and one shift. */
export const RECIP: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let k = 1; k < 256; k++) t[k] = Math.floor(65536 / k);
  return t;
})();

/** NLOG[n] = round(256 · n · log2 n), NLOG[0] = NLOG[1] = 0: Shannon entropy from symbol counts. */
export const NLOG: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 2; n < 256; n++) t[n] = Math.round(256 * n * Math.log2(n));
  return t;
})();

/** Bits of the per-source distinct-names bitmap (one u64). */
export const LC_BITS = 64;

/**
 * LC[k] = round(64 · ln(64 / (64 − k))) for k < 64 set bits (the linear-counting estimate of distinct
 * names), LC[64] = round(64 · ln 128) = 311: a full bitmap only says "more than about 266".
 */
export const LC: Uint16Array = (() => {
  const t = new Uint16Array(LC_BITS + 1);
  for (let k = 0; k < LC_BITS; k++) t[k] = Math.round(LC_BITS * Math.log(LC_BITS / (LC_BITS - k)));
  t[LC_BITS] = Math.round(LC_BITS * Math.log(2 * LC_BITS));
  return t;
})();
