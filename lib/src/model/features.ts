// The integer reference of feature_spec v1: the 32 fixed-point features the kernel computes for one DNS
// query (name features from the wire name, packet features, per-source state, user-space facts).
// Kept in sync with docs/feature-spec.md and the kernel's feature code; tests pin every definition.
import {
  CONSONANT_MASK,
  DIGIT_MASK,
  NLOG,
  RECIP,
  SYM,
  SYMBOLS,
  SYM_BOUNDARY,
  SYM_OTHER,
  VOWEL_MASK,
} from "./feature-tables.js";

export const FEATURE_SPEC = 1;
/** Length of the vector; equals STOQ_MAX_IN of bpf/stoq_model.h. */
export const FEATURE_COUNT = 32;
/** Features 0..15 depend on the query name only: what the shipped per-query model reads (n_in = 16). */
export const NAME_FEATURE_COUNT = 16;
export const MAX_NAME_WIRE = 255;
export const MAX_LABEL = 63;

export const FEATURE = {
  SUB_LEN: 0,
  SUB_LABELS: 1,
  SUB_MAX_LABEL: 2,
  SUB_BIGRAM: 3,
  SUB_ENTROPY: 4,
  SUB_DIGITS: 5,
  SUB_OTHER: 6,
  IDN: 7,
  SLD_LEN: 8,
  SLD_BIGRAM: 9,
  SLD_BIGRAM_MIN: 10,
  SLD_ENTROPY: 11,
  SLD_DIGITS: 12,
  SLD_VOWELS: 13,
  SLD_CONS_RUN: 14,
  TLD_LEN: 15,
  QTYPE_ADDR: 16,
  QTYPE_TUNNEL: 17,
  QUERY_SIZE: 18,
  SRC_QPS: 19,
  SRC_DISTINCT_NAMES: 20,
  SRC_NXDOMAIN_RATIO: 21,
  SRC_AVG_QUERY_SIZE: 22,
  SRC_RESP_TIME: 23,
  SRC_TUNNEL_QTYPE_RATIO: 24,
  SRC_LONG_NAME_RATIO: 25,
  FACT_PRESENT: 26,
  FACT_CERT_AGE_HOURS: 27,
  FACT_CHAIN_LEN: 28,
} as const;
export type FeatureName = keyof typeof FEATURE;

export type FeatureGroup = "name" | "packet" | "source" | "fact" | "reserved";

export interface FeatureDef {
  readonly index: number;
  readonly name: FeatureName | "RESERVED";
  readonly group: FeatureGroup;
  /** Value range the kernel can produce (inclusive). */
  readonly min: number;
  readonly max: number;
  /** Unit and fixed-point scale, e.g. "bytes", "Q8 ratio (256 = 1.0)". */
  readonly scale: string;
}

const Q8_RATIO = "Q8 ratio (256 = 1.0)";
const Q8_BITS = "Q8 bits (256 = 1 bit)";
// Range bounds: bigram values are int16 means and minima; entropy of <= 253 symbols over 39 is <= log2 39.
const BIGRAM_MIN = -32768;
const ENTROPY_MAX = 1353;

/** Every feature in vector order; docs/feature-spec.md carries the same table (a test compares them). */
export const FEATURES: readonly FeatureDef[] = [
  { index: 0, name: "SUB_LEN", group: "name", min: 0, max: 253, scale: "bytes" },
  { index: 1, name: "SUB_LABELS", group: "name", min: 0, max: 125, scale: "labels" },
  { index: 2, name: "SUB_MAX_LABEL", group: "name", min: 0, max: 63, scale: "bytes" },
  { index: 3, name: "SUB_BIGRAM", group: "name", min: BIGRAM_MIN, max: 0, scale: Q8_BITS },
  { index: 4, name: "SUB_ENTROPY", group: "name", min: 0, max: ENTROPY_MAX, scale: Q8_BITS },
  { index: 5, name: "SUB_DIGITS", group: "name", min: 0, max: 256, scale: Q8_RATIO },
  { index: 6, name: "SUB_OTHER", group: "name", min: 0, max: 256, scale: Q8_RATIO },
  { index: 7, name: "IDN", group: "name", min: 0, max: 1, scale: "flag" },
  { index: 8, name: "SLD_LEN", group: "name", min: 0, max: 63, scale: "bytes" },
  { index: 9, name: "SLD_BIGRAM", group: "name", min: BIGRAM_MIN, max: 0, scale: Q8_BITS },
  { index: 10, name: "SLD_BIGRAM_MIN", group: "name", min: BIGRAM_MIN, max: 0, scale: Q8_BITS },
  { index: 11, name: "SLD_ENTROPY", group: "name", min: 0, max: ENTROPY_MAX, scale: Q8_BITS },
  { index: 12, name: "SLD_DIGITS", group: "name", min: 0, max: 256, scale: Q8_RATIO },
  { index: 13, name: "SLD_VOWELS", group: "name", min: 0, max: 256, scale: Q8_RATIO },
  { index: 14, name: "SLD_CONS_RUN", group: "name", min: 0, max: 63, scale: "bytes" },
  { index: 15, name: "TLD_LEN", group: "name", min: 0, max: 63, scale: "bytes" },
  { index: 16, name: "QTYPE_ADDR", group: "packet", min: 0, max: 1, scale: "flag" },
  { index: 17, name: "QTYPE_TUNNEL", group: "packet", min: 0, max: 1, scale: "flag" },
  { index: 18, name: "QUERY_SIZE", group: "packet", min: 0, max: 65535, scale: "bytes" },
  { index: 19, name: "SRC_QPS", group: "source", min: 0, max: 65535, scale: "queries per window" },
  { index: 20, name: "SRC_DISTINCT_NAMES", group: "source", min: 0, max: 311, scale: "names per window (estimate)" },
  { index: 21, name: "SRC_NXDOMAIN_RATIO", group: "source", min: 0, max: 256, scale: Q8_RATIO },
  { index: 22, name: "SRC_AVG_QUERY_SIZE", group: "source", min: 0, max: 65535, scale: "bytes" },
  { index: 23, name: "SRC_RESP_TIME", group: "source", min: 0, max: 1 << 20, scale: "units of 1024 ns" },
  { index: 24, name: "SRC_TUNNEL_QTYPE_RATIO", group: "source", min: 0, max: 256, scale: Q8_RATIO },
  { index: 25, name: "SRC_LONG_NAME_RATIO", group: "source", min: 0, max: 256, scale: Q8_RATIO },
  { index: 26, name: "FACT_PRESENT", group: "fact", min: 0, max: 1, scale: "flag" },
  { index: 27, name: "FACT_CERT_AGE_HOURS", group: "fact", min: 0, max: 1 << 20, scale: "hours" },
  { index: 28, name: "FACT_CHAIN_LEN", group: "fact", min: 0, max: 15, scale: "certificates" },
  { index: 29, name: "RESERVED", group: "reserved", min: 0, max: 0, scale: "always 0" },
  { index: 30, name: "RESERVED", group: "reserved", min: 0, max: 0, scale: "always 0" },
  { index: 31, name: "RESERVED", group: "reserved", min: 0, max: 0, scale: "always 0" },
];

/** A query name whose sub-part is at least this long counts as "long" for SRC_LONG_NAME_RATIO. */
export const LONG_NAME_SUB_LEN = 32;

/** Offsets and lengths of the labels of a wire name (length-prefixed labels ending in a 0 byte). */
export interface WireLabels {
  readonly offsets: readonly number[];
  readonly lengths: readonly number[];
  /** Bytes of the whole wire name including every length byte and the final 0. */
  readonly wireLen: number;
}

/**
 * Walks a wire name as the kernel does. Returns null where the kernel passes the packet unscored:
 * a compression pointer or reserved label type (top bits set), a label over 63 bytes, a name over 255
 * bytes, the root name alone, or a name that runs past the buffer.
 */
export function walkWireName(wire: Uint8Array, start = 0): WireLabels | null {
  const offsets: number[] = [];
  const lengths: number[] = [];
  let pos = start;
  for (;;) {
    if (pos >= wire.length) return null;
    const len = wire[pos]!;
    if (len === 0) break;
    if (len > MAX_LABEL) return null;
    if (pos - start + 1 + len + 1 > MAX_NAME_WIRE) return null;
    if (pos + 1 + len > wire.length) return null;
    offsets.push(pos + 1);
    lengths.push(len);
    pos += 1 + len;
  }
  if (offsets.length === 0) return null;
  return { offsets, lengths, wireLen: pos - start + 1 };
}

/** Encodes a dotted name (trailing dot optional) to wire form; labels are UTF-8 bytes, case kept. */
export function encodeName(name: string): Uint8Array | null {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  if (trimmed.length === 0) return null;
  return wireOfLabels(trimmed.split("."));
}

/** Wire form of text labels (UTF-8 bytes, case kept); null when a label is empty or too long, or the name is. */
export function wireOfLabels(labels: readonly string[]): Uint8Array | null {
  const enc = new TextEncoder();
  const bytes = labels.map((l) => enc.encode(l));
  const size = bytes.reduce((n, l) => n + 1 + l.length, 1);
  if (size > MAX_NAME_WIRE || bytes.some((l) => l.length === 0 || l.length > MAX_LABEL)) return null;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const l of bytes) {
    out[pos++] = l.length;
    out.set(l, pos);
    pos += l.length;
  }
  out[pos] = 0;
  return out;
}

/** Statistics of one region (a run of whole labels) of the name. */
interface Region {
  len: number;
  labels: number;
  maxLabel: number;
  bigramSum: number;
  bigramCount: number;
  bigramMin: number;
  hist: Uint8Array;
  digits: number;
  other: number;
  vowels: number;
  consRun: number;
  idn: boolean;
}

function bit(mask: bigint, s: number): boolean {
  return ((mask >> BigInt(s)) & 1n) === 1n;
}

function scanRegion(wire: Uint8Array, w: WireLabels, from: number, to: number, bigram: Int16Array): Region {
  const r: Region = {
    len: 0,
    labels: 0,
    maxLabel: 0,
    bigramSum: 0,
    bigramCount: 0,
    bigramMin: 0,
    hist: new Uint8Array(SYMBOLS),
    digits: 0,
    other: 0,
    vowels: 0,
    consRun: 0,
    idn: false,
  };
  for (let li = from; li < to; li++) {
    const off = w.offsets[li]!;
    const n = w.lengths[li]!;
    r.len += n;
    r.labels += 1;
    r.maxLabel = Math.max(r.maxLabel, n);
    if (n >= 4 && (wire[off]! | 0x20) === 0x78 && (wire[off + 1]! | 0x20) === 0x6e && wire[off + 2] === 0x2d && wire[off + 3] === 0x2d) {
      r.idn = true;
    }
    let prev = SYM_BOUNDARY;
    let run = 0;
    for (let i = 0; i < n; i++) {
      const s = SYM[wire[off + i]!]!;
      const bg = bigram[prev * SYMBOLS + s]!;
      r.bigramSum += bg;
      r.bigramMin = Math.min(r.bigramMin, bg);
      prev = s;
      r.hist[s]! += 1;
      if (bit(DIGIT_MASK, s)) r.digits += 1;
      if (s === SYM_OTHER) r.other += 1;
      if (bit(VOWEL_MASK, s)) r.vowels += 1;
      run = bit(CONSONANT_MASK, s) ? run + 1 : 0;
      r.consRun = Math.max(r.consRun, run);
    }
    const end = bigram[prev * SYMBOLS + SYM_BOUNDARY]!;
    r.bigramSum += end;
    r.bigramMin = Math.min(r.bigramMin, end);
    r.bigramCount += n + 1;
  }
  return r;
}

/** (x · RECIP[k]) >> shift with floor semantics; exact in doubles because |x · RECIP[k]| < 2^53. */
function mulRecip(x: number, k: number, shift: number): number {
  return Math.floor((x * RECIP[k]!) / 2 ** shift);
}

function entropyQ8(r: Region): number {
  let s = 0;
  for (let i = 0; i < SYMBOLS; i++) s += NLOG[r.hist[i]!]!;
  return mulRecip(NLOG[r.len]! - s, r.len, 16);
}

/**
 * Name features (indices 0..15) of a wire name: regions are counted from the right, because the kernel
 * cannot run the public-suffix list: TLD = the last label, SLD = the one before it, SUB = all labels
 * left of the SLD. Returns null where the kernel would pass the packet unscored.
 */
export function nameFeatures(wire: Uint8Array, bigram: Int16Array, start = 0): Int32Array | null {
  const w = walkWireName(wire, start);
  if (w === null) return null;
  const L = w.offsets.length;
  const sub = scanRegion(wire, w, 0, Math.max(0, L - 2), bigram);
  const sld = scanRegion(wire, w, Math.max(0, L - 2), L - 1, bigram);
  const f = new Int32Array(NAME_FEATURE_COUNT);
  f[FEATURE.SUB_LEN] = sub.len;
  f[FEATURE.SUB_LABELS] = sub.labels;
  f[FEATURE.SUB_MAX_LABEL] = sub.maxLabel;
  f[FEATURE.SUB_BIGRAM] = mulRecip(sub.bigramSum, sub.bigramCount, 16);
  f[FEATURE.SUB_ENTROPY] = entropyQ8(sub);
  f[FEATURE.SUB_DIGITS] = mulRecip(sub.digits, sub.len, 8);
  f[FEATURE.SUB_OTHER] = mulRecip(sub.other, sub.len, 8);
  f[FEATURE.IDN] = sub.idn || sld.idn ? 1 : 0;
  f[FEATURE.SLD_LEN] = sld.len;
  f[FEATURE.SLD_BIGRAM] = mulRecip(sld.bigramSum, sld.bigramCount, 16);
  f[FEATURE.SLD_BIGRAM_MIN] = sld.bigramMin;
  f[FEATURE.SLD_ENTROPY] = entropyQ8(sld);
  f[FEATURE.SLD_DIGITS] = mulRecip(sld.digits, sld.len, 8);
  f[FEATURE.SLD_VOWELS] = mulRecip(sld.vowels, sld.len, 8);
  f[FEATURE.SLD_CONS_RUN] = sld.consRun;
  f[FEATURE.TLD_LEN] = w.lengths[L - 1]!;
  return f;
}

/** Name features of a dotted name (as found in CSV data); null when it cannot be a valid wire name. */
export function nameFeaturesOf(name: string, bigram: Int16Array): Int32Array | null {
  const wire = encodeName(name);
  return wire === null ? null : nameFeatures(wire, bigram);
}

/** Query types that carry data in tunnels (TXT, NULL, CNAME, MX, SRV, ANY, private use). */
export function isTunnelQtype(qtype: number): boolean {
  return qtype === 16 || qtype === 10 || qtype === 5 || qtype === 15 || qtype === 33 || qtype === 255 || qtype >= 65280;
}

/** Query types that ask for addresses (A, AAAA, SVCB, HTTPS). */
export function isAddrQtype(qtype: number): boolean {
  return qtype === 1 || qtype === 28 || qtype === 64 || qtype === 65;
}

/** 32-bit FNV-1a over the wire name with ASCII letters folded to lower case: the distinct-names hash. */
export function nameHash(wire: Uint8Array, start = 0): number | null {
  const w = walkWireName(wire, start);
  if (w === null) return null;
  let h = 0x811c9dc5;
  for (let i = start; i < start + w.wireLen; i++) {
    let b = wire[i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    h = Math.imul(h ^ b, 0x01000193) >>> 0;
  }
  return h;
}

export interface PacketFacts {
  qtype: number;
  /** DNS message length in bytes (UDP payload length). */
  dnsLen: number;
}

/** Assembles the full vector from its four groups (source and fact parts as computed by their owners). */
export function featureVector(
  name: Int32Array,
  packet: PacketFacts,
  source: Int32Array | null,
  fact: Int32Array | null,
): Int32Array {
  const v = new Int32Array(FEATURE_COUNT);
  v.set(name.subarray(0, NAME_FEATURE_COUNT), 0);
  v[FEATURE.QTYPE_ADDR] = isAddrQtype(packet.qtype) ? 1 : 0;
  v[FEATURE.QTYPE_TUNNEL] = isTunnelQtype(packet.qtype) ? 1 : 0;
  v[FEATURE.QUERY_SIZE] = Math.min(packet.dnsLen, 65535);
  if (source !== null) v.set(source, FEATURE.SRC_QPS);
  if (fact !== null) v.set(fact, FEATURE.FACT_PRESENT);
  return v;
}
