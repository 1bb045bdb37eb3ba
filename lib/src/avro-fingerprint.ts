// Avro Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint of the Avro specification, used by
// lib/src/avro.ts to name writer schemas in single-object encoding.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const PRIMITIVES = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"]);
const NAMED = new Set(["record", "error", "enum", "fixed"]);

/** Parsing Canonical Form of a schema (spec rules PRIMITIVES, FULLNAMES, STRIP, ORDER, STRINGS, INTEGERS, WHITESPACE). */
export function parsingCanonicalForm(schema: unknown): string {
  return canonical(schema as Json, "", new Set());
}

function fullName(name: string, namespace: string): string {
  return name.includes(".") || namespace === "" ? name : `${namespace}.${name}`;
}

function canonical(s: Json, namespace: string, seen: Set<string>): string {
  if (typeof s === "string") {
    return JSON.stringify(PRIMITIVES.has(s) ? s : fullName(s, namespace));
  }
  if (Array.isArray(s)) return `[${s.map((b) => canonical(b, namespace, seen)).join(",")}]`;
  if (s === null || typeof s !== "object") throw new Error(`not an Avro schema: ${JSON.stringify(s)}`);

  const type = s["type"];
  if (typeof type !== "string") return canonical(type ?? null, namespace, seen);
  if (PRIMITIVES.has(type)) return JSON.stringify(type);
  if (type === "array") return `{"type":"array","items":${canonical(s["items"] ?? null, namespace, seen)}}`;
  if (type === "map") return `{"type":"map","values":${canonical(s["values"] ?? null, namespace, seen)}}`;
  if (!NAMED.has(type)) return canonical(type, namespace, seen);

  const name = s["name"];
  if (typeof name !== "string") throw new Error(`named ${type} without a name: ${JSON.stringify(s)}`);
  const ns = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : typeof s["namespace"] === "string" ? s["namespace"] : namespace;
  const full = fullName(name, ns);
  // A named type is spelled out once; later occurrences are references by full name.
  if (seen.has(full)) return JSON.stringify(full);
  seen.add(full);
  let out = `{"name":${JSON.stringify(full)},"type":${JSON.stringify(type)}`;
  if (type === "enum") out += `,"symbols":${JSON.stringify(s["symbols"])}`;
  if (type === "fixed") out += `,"size":${Number(s["size"])}`;
  if (type === "record" || type === "error") {
    const fields = (s["fields"] ?? []) as Array<{ [key: string]: Json }>;
    const parts = fields.map((f) => `{"name":${JSON.stringify(f["name"])},"type":${canonical(f["type"] ?? null, ns, seen)}}`);
    out += `,"fields":[${parts.join(",")}]`;
  }
  return `${out}}`;
}

const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;
const TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
  return fp;
});

/** CRC-64-AVRO of the UTF-8 bytes of `text`, as an unsigned 64-bit integer. */
export function rabinFingerprint(text: string): bigint {
  let fp = EMPTY;
  for (const b of Buffer.from(text, "utf8")) fp = (fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(b)) & 0xffn)] ?? 0n);
  return fp;
}

/** The 8 little-endian fingerprint bytes that follow `C3 01` in single-object encoding. */
export function fingerprintBytes(schema: unknown): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(rabinFingerprint(parsingCanonicalForm(schema)));
  return buf;
}
