// A fast 32-bit string hash (FNV-1a over UTF-16 code units, then the MurmurHash3 finalizer for
// avalanche), shared by the aggregator's key tables and the HyperLogLog sketches so a key is hashed once.

export function hashString32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** MurmurHash3's 32-bit finalizer: every input bit affects every output bit. */
export function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
