// The TypeScript mirror of struct stoq_model and struct stoq_control (bpf/stoq_model.h): field offsets,
// sizes, and (de)serialization to the exact little-endian map value bytes the collector writes.
// Kept in sync with bpf/stoq_model.h; the collector's BTF layout test fails when the two drift.
import { StoqError } from "../errors.js";
import { MAX_HIDDEN, MAX_IN, modelShapeError, type QuantModel } from "./int8-mlp.js";
import { NGRAM_FLAG_TLD, NGRAM_MAX_BITS } from "./ngrams.js";

export interface FieldLayout {
  readonly offset: number;
  /** Bytes of the whole field (the whole array for array fields). */
  readonly size: number;
}

/*
 * struct stoq_model (2664 bytes, 8-byte aligned), little-endian:
 *   0 u64 version | 8 u32 feature_spec | 12 u32 n_in | 16 u32 n_hidden | 20 s32 h_mul | 24 u32 h_shift
 *   28 s32 b2 | 32 s32 threshold | 36 u8 ngram_bits | 37 u8 ngram_flags | 38 u16 ngram_shift | 40 s32 in_zero[32] | 168 s32 in_mul[32] | 296 s32 b1[64]
 *   552 s8 w1[64][32] | 2600 s8 w2[64]
 */
export const MODEL_LAYOUT = {
  size: 2664,
  fields: {
    version: { offset: 0, size: 8 },
    feature_spec: { offset: 8, size: 4 },
    n_in: { offset: 12, size: 4 },
    n_hidden: { offset: 16, size: 4 },
    h_mul: { offset: 20, size: 4 },
    h_shift: { offset: 24, size: 4 },
    b2: { offset: 28, size: 4 },
    threshold: { offset: 32, size: 4 },
    ngram_bits: { offset: 36, size: 1 },
    ngram_flags: { offset: 37, size: 1 },
    ngram_shift: { offset: 38, size: 2 },
    in_zero: { offset: 40, size: 4 * MAX_IN },
    in_mul: { offset: 168, size: 4 * MAX_IN },
    b1: { offset: 296, size: 4 * MAX_HIDDEN },
    w1: { offset: 552, size: MAX_HIDDEN * MAX_IN },
    w2: { offset: 2600, size: MAX_HIDDEN },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

/* struct stoq_control (16 bytes): 0 u32 active | 4 u32 mode | 8 u32 shadow | 12 u32 _pad */
export const CONTROL_LAYOUT = {
  size: 16,
  fields: {
    active: { offset: 0, size: 4 },
    mode: { offset: 4, size: 4 },
    shadow: { offset: 8, size: 4 },
    _pad: { offset: 12, size: 4 },
  },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };

export const MODEL_SLOT = { A: 0, B: 1, SHADOW: 2 } as const;
export const MODEL_SLOTS = 3;

/*
 * The n-gram table map (bpf/stoq_model.h, stoq_ngrams): STOQ_MODEL_SLOTS x 2^14 rows of 64 bytes, row r of
 * slot s at key s * 2^14 + r; byte j of a row is unit j's int8 weight, 0 past n_hidden.
 */
export const NGRAM_ROW_BYTES = MAX_HIDDEN;
export const NGRAM_SLOT_ROWS = 1 << NGRAM_MAX_BITS;
/* struct stoq_ngram_row (64 bytes, 8-byte aligned): 0 s8 w[64] */
export const NGRAM_ROW_LAYOUT = {
  size: NGRAM_ROW_BYTES,
  fields: { w: { offset: 0, size: NGRAM_ROW_BYTES } },
} as const satisfies { size: number; fields: Record<string, FieldLayout> };
export const MODE = { observe: 0, shadow: 1, enforce: 2 } as const;
export type Mode = keyof typeof MODE;

export interface Control {
  active: number;
  mode: number;
  shadow: number;
}

const F = MODEL_LAYOUT.fields;

/**
 * The map value of one slot. Unused inputs, units and weights are zero, so the bytes of a model are a
 * function of the model alone (what the signature covers downstream is the record, not these bytes).
 */
export function encodeModel(m: QuantModel): Buffer {
  const err = modelShapeError(m);
  if (err !== null) throw new StoqError("MODEL_REJECTED", `model cannot be laid out: ${err}`);
  const b = Buffer.alloc(MODEL_LAYOUT.size);
  b.writeBigUInt64LE(m.version, F.version.offset);
  b.writeUInt32LE(m.featureSpec, F.feature_spec.offset);
  b.writeUInt32LE(m.nIn, F.n_in.offset);
  b.writeUInt32LE(m.nHidden, F.n_hidden.offset);
  b.writeInt32LE(m.hMul, F.h_mul.offset);
  b.writeUInt32LE(m.hShift, F.h_shift.offset);
  b.writeInt32LE(m.b2, F.b2.offset);
  b.writeInt32LE(m.threshold, F.threshold.offset);
  b.writeUInt8(m.ngramBits, F.ngram_bits.offset);
  b.writeUInt8(m.ngramTld === true ? NGRAM_FLAG_TLD : 0, F.ngram_flags.offset);
  b.writeUInt16LE(m.ngramShift, F.ngram_shift.offset);
  for (let i = 0; i < m.nIn; i++) {
    b.writeInt32LE(m.inZero[i]!, F.in_zero.offset + 4 * i);
    b.writeInt32LE(m.inMul[i]!, F.in_mul.offset + 4 * i);
  }
  for (let j = 0; j < m.nHidden; j++) {
    b.writeInt32LE(m.b1[j]!, F.b1.offset + 4 * j);
    b.writeInt8(m.w2[j]!, F.w2.offset + j);
    for (let i = 0; i < m.nIn; i++) b.writeInt8(m.w1[j * m.nIn + i]!, F.w1.offset + j * MAX_IN + i);
  }
  return b;
}

/** Keys of slot `slot`'s first `rows` table rows, in row order (u32 little-endian, as the map's keys). */
export function ngramKeys(slot: number, rows: number): Buffer[] {
  return Array.from({ length: rows }, (_, r) => {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(slot * NGRAM_SLOT_ROWS + r);
    return k;
  });
}

/**
 * The map values of a model's table: 2^ngram_bits rows of NGRAM_ROW_BYTES, unit j at byte j, zero past
 * n_hidden (the kernel reads whole 8-unit words). Empty for a model without a table.
 */
export function encodeNgramRows(m: QuantModel): Buffer[] {
  const err = modelShapeError(m);
  if (err !== null) throw new StoqError("MODEL_REJECTED", `n-gram table cannot be laid out: ${err}`);
  const rows = m.ngramBits === 0 ? 0 : 1 << m.ngramBits;
  const n = m.nHidden;
  return Array.from({ length: rows }, (_, r) => {
    const row = Buffer.alloc(NGRAM_ROW_BYTES);
    row.set(new Uint8Array(m.ngram.buffer, m.ngram.byteOffset + r * n, n));
    return row;
  });
}

/**
 * Reads a slot back; arrays come out sized n_in / n_hidden, w1 packed [n_hidden][n_in]. `rows` are the
 * slot's table rows as read from the n-gram map (at least 2^ngram_bits of them); without them the table
 * comes out empty.
 */
export function decodeModel(b: Uint8Array, rows: readonly Uint8Array[] = []): QuantModel {
  if (b.length !== MODEL_LAYOUT.size) {
    throw new StoqError("MODEL_REJECTED", `a stoq_model value is ${MODEL_LAYOUT.size} bytes, got ${b.length}`);
  }
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const nIn = Math.min(buf.readUInt32LE(F.n_in.offset), MAX_IN);
  const nHidden = Math.min(buf.readUInt32LE(F.n_hidden.offset), MAX_HIDDEN);
  const inZero = new Int32Array(nIn);
  const inMul = new Int32Array(nIn);
  const b1 = new Int32Array(nHidden);
  const w1 = new Int8Array(nHidden * nIn);
  const w2 = new Int8Array(nHidden);
  for (let i = 0; i < nIn; i++) {
    inZero[i] = buf.readInt32LE(F.in_zero.offset + 4 * i);
    inMul[i] = buf.readInt32LE(F.in_mul.offset + 4 * i);
  }
  for (let j = 0; j < nHidden; j++) {
    b1[j] = buf.readInt32LE(F.b1.offset + 4 * j);
    w2[j] = buf.readInt8(F.w2.offset + j);
    for (let i = 0; i < nIn; i++) w1[j * nIn + i] = buf.readInt8(F.w1.offset + j * MAX_IN + i);
  }
  const ngramBits = buf.readUInt8(F.ngram_bits.offset);
  const tableRows = ngramBits === 0 || ngramBits > NGRAM_MAX_BITS || rows.length < 1 << ngramBits ? 0 : 1 << ngramBits;
  const ngram = new Int8Array(tableRows * nHidden);
  for (let r = 0; r < tableRows; r++) ngram.set(new Int8Array(rows[r]!.buffer, rows[r]!.byteOffset, nHidden), r * nHidden);
  return {
    version: buf.readBigUInt64LE(F.version.offset),
    featureSpec: buf.readUInt32LE(F.feature_spec.offset),
    nIn,
    nHidden,
    hMul: buf.readInt32LE(F.h_mul.offset),
    hShift: buf.readUInt32LE(F.h_shift.offset),
    b2: buf.readInt32LE(F.b2.offset),
    threshold: buf.readInt32LE(F.threshold.offset),
    inZero,
    inMul,
    b1,
    w1,
    w2,
    ngramBits,
    ngramShift: buf.readUInt16LE(F.ngram_shift.offset),
    ngram,
    ...((buf.readUInt8(F.ngram_flags.offset) & NGRAM_FLAG_TLD) !== 0 ? { ngramTld: true } : {}),
  };
}

export function encodeControl(c: Control): Buffer {
  const b = Buffer.alloc(CONTROL_LAYOUT.size);
  b.writeUInt32LE(c.active, CONTROL_LAYOUT.fields.active.offset);
  b.writeUInt32LE(c.mode, CONTROL_LAYOUT.fields.mode.offset);
  b.writeUInt32LE(c.shadow, CONTROL_LAYOUT.fields.shadow.offset);
  return b;
}

export function decodeControl(b: Uint8Array): Control {
  if (b.length !== CONTROL_LAYOUT.size) {
    throw new StoqError("MODEL_REJECTED", `a stoq_control value is ${CONTROL_LAYOUT.size} bytes, got ${b.length}`);
  }
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    active: buf.readUInt32LE(CONTROL_LAYOUT.fields.active.offset),
    mode: buf.readUInt32LE(CONTROL_LAYOUT.fields.mode.offset),
    shadow: buf.readUInt32LE(CONTROL_LAYOUT.fields.shadow.offset),
  };
}
