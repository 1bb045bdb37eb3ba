// Avro codec for every STOQ record: loads schemas/*.avsc and their released versions, and encodes and
// decodes Avro single-object encoding with avsc. Used by every producer and consumer of the pipeline.
//
// Wire format (Avro 1.x specification, "Single object encoding"):
//   C3 01                 magic, format version 1
//   fp[8]                 CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, little-endian
//   body                  Avro binary encoding of the record with that writer schema
// A reader finds the writer schema by its fingerprint among the current and historical schemas in
// schemas/ (no registry needed) and resolves it to the current schema of the same record.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import avro from "avsc";
import { StoqError } from "./errors.js";
import { fingerprintBytes } from "./avro-fingerprint.js";
import type { RecordMap } from "./avro-records.js";

export type * from "./avro-records.js";

export type RecordName = keyof RecordMap;
export const RECORD_NAMES: readonly RecordName[] = [
  "DnsEvent",
  "FlowRecord",
  "CertObservation",
  "FeatureVector",
  "WindowAggregate",
  "Anomaly",
  "Label",
  "ModelUpdate",
  "DlqEntry",
];

export const SCHEMA_DIR = fileURLToPath(new URL("../../schemas/", import.meta.url));
const HEADER_SIZE = 10;
const EMPTY = Buffer.alloc(0);
const MAGIC_0 = 0xc3;
const MAGIC_1 = 0x01;

// avsc's Tap, as far as the guarded readers below use it.
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
  _invalidate(): void;
}
interface Reader {
  _read(tap: Tap): unknown;
}
// avsc's Tap constructor (not in its public API), so a projection can reuse one for every record.
const { Tap: TapClass } = createRequire(import.meta.url)("avsc/lib/utils") as { Tap: new (buf: Buffer, pos: number) => Tap & { isValid(): boolean } };

// avsc 5.7.9 trusts the block count of an array or map and allocates and loops that many times before it
// notices the buffer has ended: a 6-byte garbled record makes it exhaust the heap. These readers are
// avsc's own with one bound added: every item of our schemas takes at least one byte, so a count larger
// than the bytes left is invalid input. (Both readers are also used by resolvers, via `this._read`.)
class GuardedArrayType extends avro.types.ArrayType {
  _read(tap: Tap): unknown[] {
    const items = this.itemsType as unknown as Reader;
    let out: unknown[] | undefined;
    let i = 0;
    let n: number;
    while ((n = tap.readLong())) {
      if (n < 0) {
        n = -n;
        tap.skipLong();
      }
      if (n > tap.buf.length - tap.pos) {
        tap._invalidate();
        return [];
      }
      out ??= new Array<unknown>(n);
      while (n--) out[i++] = items._read(tap);
    }
    return out ?? [];
  }
}

class GuardedMapType extends avro.types.MapType {
  _read(tap: Tap): Record<string, unknown> {
    const values = this.valuesType as Reader;
    const out: Record<string, unknown> = {};
    let n: number;
    while ((n = tap.readLong())) {
      if (n < 0) {
        n = -n;
        tap.skipLong();
      }
      if (n > tap.buf.length - tap.pos) {
        tap._invalidate();
        return {};
      }
      while (n--) {
        const key = tap.readString();
        out[key] = values._read(tap);
      }
    }
    return out;
  }
}

// avsc reads a zigzag varint through doubles: past 2^53 the zigzag value rounds, and an odd (negative)
// value can round to an even (positive) one, so -(2^52) - 1 would decode as +2^52. Longs are therefore
// held to LONG_MIN..LONG_MAX, where every value round-trips exactly; outside it encode says RECORD_INVALID
// and decode RECORD_UNDECODABLE rather than return a wrong number.
export const LONG_MAX = 2 ** 52 - 1;
export const LONG_MIN = -(2 ** 52);

class GuardedLongType extends avro.types.LongType {
  _check(v: unknown, _flags: number, hook?: (v: unknown, t: avro.Type) => void): boolean {
    const ok = typeof v === "number" && v % 1 === 0 && v >= LONG_MIN && v <= LONG_MAX;
    if (!ok && hook) hook(v, this);
    return ok;
  }

  _read(tap: Tap): number {
    const n = tap.readLong();
    if (!(n >= LONG_MIN && n <= LONG_MAX)) throw new Error(`long ${n} is outside ${LONG_MIN}..${LONG_MAX}`);
    return n;
  }
}

function typeHook(schema: avro.Schema, opts: unknown): avro.Type | undefined {
  if (schema === "long") return new GuardedLongType();
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return undefined;
  const t = (schema as { type?: unknown }).type;
  if (t === "long") return new GuardedLongType();
  if (t === "array") return new GuardedArrayType(schema, opts);
  if (t === "map") return new GuardedMapType(schema, opts);
  return undefined;
}

// Decoded records become plain objects (prototype Object.prototype), so they compare equal to object
// literals with assert.deepStrictEqual and carry no avsc methods.
function plainRecords(type: avro.Type, seen = new Set<avro.Type>()): void {
  if (seen.has(type)) return;
  seen.add(type);
  const t = type as avro.Type & {
    recordConstructor?: { prototype: object };
    fields?: Array<{ type: avro.Type }>;
    itemsType?: avro.Type;
    valuesType?: avro.Type;
    types?: avro.Type[];
  };
  if (t.recordConstructor) t.recordConstructor.prototype = Object.prototype;
  for (const f of t.fields ?? []) plainRecords(f.type, seen);
  for (const b of t.types ?? []) plainRecords(b, seen);
  if (t.itemsType) plainRecords(t.itemsType, seen);
  if (t.valuesType) plainRecords(t.valuesType, seen);
}

function parseType(schema: avro.Schema): avro.Type {
  const type = avro.Type.forSchema(schema, { omitRecordMethods: true, wrapUnions: "auto", typeHook });
  plainRecords(type);
  return type;
}

interface Current {
  readonly type: avro.Type;
  readonly schema: avro.Schema;
  readonly header: Buffer;
}

interface Writer {
  readonly name: RecordName;
  readonly version: string;
  readonly type: avro.Type;
  readonly reader: avro.Type;
  /** null when the writer schema is the current one: no resolution needed. */
  readonly resolver: ReturnType<avro.Type["createResolver"]> | null;
  readonly fpHigh: number;
}

function readSchema(path: string): avro.Schema {
  return JSON.parse(readFileSync(path, "utf8")) as avro.Schema;
}

function headerFor(schema: avro.Schema): Buffer {
  return Buffer.concat([Buffer.from([MAGIC_0, MAGIC_1]), fingerprintBytes(schema)]);
}

function describeType(type: avro.Type): string {
  const t = type as avro.Type & { symbols?: string[]; types?: avro.Type[] };
  switch (type.typeName) {
    case "enum":
      return `one of ${(t.symbols ?? []).join(", ")}`;
    case "union:unwrapped":
    case "union:wrapped":
      return (t.types ?? []).map(describeType).join(" or ");
    case "long":
      return `an integer in ${LONG_MIN}..${LONG_MAX} (|x| < 2^52)`;
    case "int":
      return "a 32-bit integer";
    case "float":
    case "double":
      return "a number";
    case "bytes":
      return "a Buffer";
    case "record":
      return `an ${type.name ?? "anonymous"} record`;
    default:
      return `a ${type.typeName}`;
  }
}

function formatPath(path: readonly string[]): string {
  return path.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join("");
}

function invalid(name: RecordName, type: avro.Type, value: unknown): StoqError {
  const problems: string[] = [];
  type.isValid(value, {
    errorHook: (path: string[], v: unknown, t: avro.Type) => {
      if (problems.length >= 5) return;
      const shown = inspect(v, { depth: 0, maxStringLength: 60, breakLength: Infinity });
      problems.push(`${name}${formatPath(path)} = ${shown} is not ${describeType(t)}`);
    },
  });
  return new StoqError("RECORD_INVALID", `invalid ${name} record: ${problems.join("; ")}`);
}

function undecodable(message: string, cause?: unknown): StoqError {
  return new StoqError("RECORD_UNDECODABLE", message, cause === undefined ? undefined : { cause });
}

/**
 * The schemas of one directory (`<Name>.avsc` current, `history/<Name>/v<N>.avsc` released versions) and
 * the codec over them. The module's functions use the repository's schemas/; tests build others.
 */
export class AvroCodec {
  readonly names: readonly RecordName[];
  private readonly current = new Map<RecordName, Current>();
  // Writers keyed by the low 32 bits of their fingerprint so the hot path looks them up without allocating.
  private readonly writers = new Map<number, Writer[]>();
  private readonly versions = new Map<RecordName, string[]>();
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(dir: string) {
    for (const name of RECORD_NAMES) {
      if (existsSync(`${dir}/${name}.avsc`)) this.load(dir, name);
    }
    this.names = RECORD_NAMES.filter((n) => this.current.has(n));
  }

  private load(dir: string, name: RecordName): void {
    const schema = readSchema(`${dir}/${name}.avsc`);
    const type = parseType(schema);
    const header = headerFor(schema);
    this.current.set(name, { type, schema, header });
    const hdir = `${dir}/history/${name}`;
    const files = existsSync(hdir) ? readdirSync(hdir).filter((f) => /^v\d+\.avsc$/.test(f)) : [];
    const versions = files.map((f) => f.replace(".avsc", "")).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    this.versions.set(name, versions);
    const all = [{ version: "current", schema, header }].concat(
      versions.map((version) => {
        const s = readSchema(`${hdir}/${version}.avsc`);
        return { version, schema: s, header: headerFor(s) };
      }),
    );
    for (const w of all) {
      const lo = w.header.readUInt32LE(2);
      const hi = w.header.readUInt32LE(6);
      const bucket = this.writers.get(lo) ?? [];
      const same = bucket.find((x) => x.fpHigh === hi);
      if (same) {
        if (same.name !== name) throw new Error(`schemas ${same.name} and ${name} have the same fingerprint`);
        continue; // a released version identical to the current schema
      }
      const writerType = w.header.equals(header) ? type : parseType(w.schema);
      const resolver = writerType === type ? null : type.createResolver(writerType);
      bucket.push({ name, version: w.version, type: writerType, reader: type, resolver, fpHigh: hi });
      this.writers.set(lo, bucket);
    }
  }

  private entry(name: RecordName): Current {
    const entry = this.current.get(name);
    if (entry === undefined) throw new StoqError("SCHEMA_UNKNOWN", `no schema named ${String(name)}`);
    return entry;
  }

  /** Released versions kept in history/<name>/, oldest first (e.g. ["v1", "v2"]). */
  schemaVersions(name: RecordName): readonly string[] {
    return this.versions.get(name) ?? [];
  }

  /** The avsc type of the current schema of `name`. */
  avroType(name: RecordName): avro.Type {
    return this.entry(name).type;
  }

  /** The 10-byte single-object header (magic + fingerprint) of the current schema of `name`. */
  header(name: RecordName): Buffer {
    return Buffer.from(this.entry(name).header);
  }

  encode(name: RecordName, value: unknown): Buffer {
    const entry = this.entry(name);
    // Properties the schema does not declare are ignored, not rejected: checking for them makes validation
    // five times slower, and TypeScript's excess-property checks already catch a misspelt field.
    if (!entry.type.isValid(value)) throw invalid(name, entry.type, value);
    entry.header.copy(this.scratch, 0);
    let end = entry.type.encode(value, this.scratch, HEADER_SIZE);
    while (end < 0) {
      // encode returns minus the number of missing bytes; grow the scratch buffer to fit.
      this.scratch = Buffer.allocUnsafe(2 * (this.scratch.length - end));
      entry.header.copy(this.scratch, 0);
      end = entry.type.encode(value, this.scratch, HEADER_SIZE);
    }
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    return out;
  }

  decode(buf: Buffer): { name: RecordName; value: unknown } {
    const writer = this.writerOf(buf);
    return { name: writer.name, value: this.body(buf, writer, writer.reader, writer.resolver) };
  }

  decodeAs<T>(name: RecordName, buf: Buffer): T {
    const { name: got, value } = this.decode(buf);
    if (got !== name) throw undecodable(`expected a ${name} record, got a ${got}`);
    return value as T;
  }

  /**
   * A decoder of `name` records (any known version) that builds only `fields` of the current schema and
   * skips the rest of each body: for consumers that read a few fields of many records. The result has
   * only those properties; it throws as decodeAs does. It reads the record in place, `buf` from `start`
   * to `end` (default: all of it), so a consumer need not cut a view per record out of a fetch.
   */
  projection<T>(name: RecordName, fields: readonly string[]): (buf: Buffer, start?: number, end?: number) => T {
    const schema = this.entry(name).schema as { fields: { name: string }[] };
    const unknown = fields.filter((f) => !schema.fields.some((x) => x.name === f));
    if (unknown.length > 0) throw new StoqError("SCHEMA_UNKNOWN", `${name} has no field ${unknown.join(", ")}`);
    const reader = parseType({ ...schema, fields: schema.fields.filter((f) => fields.includes(f.name)) } as avro.Schema);
    const resolvers = new Map<Writer, Reader>();
    for (const bucket of this.writers.values()) for (const w of bucket) if (w.name === name) resolvers.set(w, reader.createResolver(w.type) as unknown as Reader);
    // One tap for every record (avsc's decode() allocates a tap and a result object per call).
    const tap = new TapClass(Buffer.alloc(0), 0);
    return (buf, start = 0, end = buf.length) => {
      const writer = this.writerOf(buf, start, end);
      const resolver = resolvers.get(writer);
      if (resolver === undefined) throw undecodable(`expected a ${name} record, got a ${writer.name}`);
      tap.buf = buf;
      tap.pos = start + HEADER_SIZE;
      let value: unknown;
      try {
        value = resolver._read(tap);
      } catch (e) {
        throw undecodable(`${writer.name} (${writer.version}) body is malformed: ${(e as Error).message}`, e);
      } finally {
        tap.buf = EMPTY;
      }
      // A record cut short reads on into the bytes after it (or past the buffer): it ends elsewhere.
      if (tap.pos > end || tap.pos > buf.length) throw undecodable(`${writer.name} (${writer.version}) record is truncated`);
      if (tap.pos !== end) throw undecodable(`${writer.name} (${writer.version}) record has ${end - tap.pos} trailing bytes`);
      return value as T;
    };
  }

  private writerOf(buf: Buffer, start = 0, end = buf.length): Writer {
    if (end - start < HEADER_SIZE) throw undecodable(`record of ${end - start} bytes is shorter than the 10-byte header`);
    if (buf[start] !== MAGIC_0 || buf[start + 1] !== MAGIC_1) {
      throw undecodable(`bad magic ${buf.subarray(start, start + 2).toString("hex")}: expected c301 (Avro single-object encoding)`);
    }
    const writer = this.writer(buf, start);
    if (writer === undefined) {
      throw undecodable(`unknown schema fingerprint ${buf.subarray(start + 2, start + HEADER_SIZE).toString("hex")}: not a schema in schemas/`);
    }
    return writer;
  }

  private body(buf: Buffer, writer: Writer, reader: avro.Type, resolver: ReturnType<avro.Type["createResolver"]> | null): unknown {
    let result: { value: unknown; offset: number };
    try {
      result = reader.decode(buf, HEADER_SIZE, resolver ?? undefined);
    } catch (e) {
      throw undecodable(`${writer.name} (${writer.version}) body is malformed: ${(e as Error).message}`, e);
    }
    if (result.offset < 0) throw undecodable(`${writer.name} (${writer.version}) record is truncated`);
    if (result.offset !== buf.length) {
      throw undecodable(`${writer.name} (${writer.version}) record has ${buf.length - result.offset} trailing bytes`);
    }
    return result.value;
  }

  /** The name of the record in `buf` from its header alone; null when the header names no known schema. */
  recordNameOf(buf: Buffer): RecordName | null {
    if (buf.length < HEADER_SIZE || buf[0] !== MAGIC_0 || buf[1] !== MAGIC_1) return null;
    return this.writer(buf)?.name ?? null;
  }

  private writer(buf: Buffer, start = 0): Writer | undefined {
    const bucket = this.writers.get(buf.readUInt32LE(start + 2));
    if (bucket === undefined) return undefined;
    const hi = buf.readUInt32LE(start + 6);
    for (const w of bucket) if (w.fpHigh === hi) return w;
    return undefined;
  }
}

const CODEC = new AvroCodec(SCHEMA_DIR);
if (CODEC.names.length !== RECORD_NAMES.length) {
  throw new Error(`${SCHEMA_DIR} lacks schemas: ${RECORD_NAMES.filter((n) => !CODEC.names.includes(n)).join(", ")}`);
}

/** Validates `value` against the current schema of `name` and returns its single-object encoding. */
export function encode(name: RecordName, value: unknown): Buffer {
  return CODEC.encode(name, value);
}

/** Decodes a single-object-encoded record written with any known version of any STOQ schema. */
export function decode(buf: Buffer): { name: RecordName; value: unknown } {
  return CODEC.decode(buf);
}

/** Decodes and checks the record is a `name`; anything else is RECORD_UNDECODABLE. */
export function decodeAs<T>(name: RecordName, buf: Buffer): T {
  return CODEC.decodeAs<T>(name, buf);
}

/** See AvroCodec.projection: a decoder that builds only `fields` of `name` records. */
export function projection<T>(name: RecordName, fields: readonly string[]): (buf: Buffer, start?: number, end?: number) => T {
  return CODEC.projection<T>(name, fields);
}

/** The name of the record in `buf` from its header alone (e.g. to route a DLQ entry); null if unknown. */
export function recordNameOf(buf: Buffer): RecordName | null {
  return CODEC.recordNameOf(buf);
}

/** Released versions of `name` kept in schemas/history/, oldest first. */
export function schemaVersions(name: RecordName): readonly string[] {
  return CODEC.schemaVersions(name);
}

/** The avsc type of the current schema of `name`. */
export function avroType(name: RecordName): avro.Type {
  return CODEC.avroType(name);
}

/** The 10-byte single-object header of the current schema of `name`. */
export function singleObjectHeader(name: RecordName): Buffer {
  return CODEC.header(name);
}

const BYTES = avro.Type.forSchema("bytes");

/**
 * The bytes a ModelUpdate's Ed25519 signature covers: its single-object encoding up to, not including,
 * the signature field (the last field), i.e. the header naming the writer schema and every other field.
 * Sign these, then send `encode("ModelUpdate", { ...update, signature })`.
 */
export function modelUpdateSigningPayload(update: Omit<RecordMap["ModelUpdate"], "signature">): Buffer {
  const unsigned = encode("ModelUpdate", { ...update, signature: Buffer.alloc(0) });
  return unsigned.subarray(0, unsigned.length - BYTES.toBuffer(Buffer.alloc(0)).length);
}

/**
 * Decodes a ModelUpdate message and returns the payload its signature covers, taken from the bytes as
 * received (so it verifies whatever schema version wrote it).
 */
export function openModelUpdate(message: Buffer): { update: RecordMap["ModelUpdate"]; payload: Buffer } {
  const update = decodeAs<RecordMap["ModelUpdate"]>("ModelUpdate", message);
  const tail = BYTES.toBuffer(update.signature);
  if (message.length < tail.length || !message.subarray(message.length - tail.length).equals(tail)) {
    throw undecodable("ModelUpdate does not end with its signature field");
  }
  return { update, payload: message.subarray(0, message.length - tail.length) };
}
