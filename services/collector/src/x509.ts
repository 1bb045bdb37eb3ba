// X.509 certificate summary from DER: names, SANs, validity, key and signature algorithms, CA and CT
// markers, fingerprints. A small DER walker reads the fields node:crypto's X509Certificate does not expose
// (signature algorithm, SCT list, raw RDN order, IP/URI/email SANs); node:crypto hashes and verifies.
import { createHash, X509Certificate } from "node:crypto";
import { ipv4Text, ipv6Text } from "./packet.js";

/*
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }
 * TBSCertificate ::= SEQUENCE { [0] version, serialNumber INTEGER, signature AlgorithmIdentifier, issuer Name,
 *   validity SEQUENCE { notBefore Time, notAfter Time }, subject Name, subjectPublicKeyInfo SEQUENCE { algorithm,
 *   subjectPublicKey BIT STRING }, [1] issuerUID, [2] subjectUID, [3] extensions SEQUENCE OF Extension }
 * Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY (a string type) }
 */

export interface Rdn {
  /** OpenSSL short name of the attribute (CN, O, OU, ...) or the dotted OID. */
  readonly type: string;
  readonly value: string;
}

export interface CertificateInfo {
  readonly sha256: string;
  readonly sha1: string;
  readonly version: number;
  /** Serial as uppercase hex without leading zero bytes (at least one byte). */
  readonly serial: string;
  /** RFC 4514 string (last RDN first, "," separated, special characters escaped). */
  readonly subject: string;
  readonly issuer: string;
  /** Attributes in the order the certificate encodes them. */
  readonly subjectRdns: Rdn[];
  readonly issuerRdns: Rdn[];
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** OpenSSL long names: rsaEncryption, id-ecPublicKey, ED25519, dsaEncryption. */
  readonly keyAlgorithm: string;
  readonly keyType: "rsa" | "ecdsa" | "dsa" | "ed25519" | "ed448" | "unknown";
  readonly keyBits: number;
  readonly rsaExponent: number | null;
  readonly curve: string | null;
  readonly signatureAlgorithm: string;
  readonly sanDns: string[];
  readonly sanIp: string[];
  readonly sanEmail: string[];
  readonly sanUri: string[];
  readonly isCa: boolean;
  readonly pathLen: number | null;
  readonly hasBasicConstraints: boolean;
  readonly hasSct: boolean;
  /** Subject and issuer names are equal. */
  readonly selfIssued: boolean;
  /** Self-issued and the signature verifies with the certificate's own key. */
  readonly selfSigned: boolean;
}

export type X509ErrorKind = "der_malformed" | "not_a_certificate";

const OID_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "street",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.13": "description",
  "2.5.4.15": "businessCategory",
  "2.5.4.17": "postalCode",
  "2.5.4.42": "GN",
  "2.5.4.43": "initials",
  "2.5.4.46": "dnQualifier",
  "2.5.4.65": "pseudonym",
  "2.5.4.97": "organizationIdentifier",
  "1.2.840.113549.1.9.1": "emailAddress",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
  "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
  "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
  "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
};

const SIG_ALGS: Record<string, string> = {
  "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.10": "rsassaPss",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.2.840.10040.4.3": "dsaWithSHA1",
  "2.16.840.1.101.3.4.3.1": "dsa_with_SHA224",
  "2.16.840.1.101.3.4.3.2": "dsa_with_SHA256",
  "1.3.101.112": "ED25519",
  "1.3.101.113": "ED448",
};

const KEY_ALGS: Record<string, [string, CertificateInfo["keyType"]]> = {
  "1.2.840.113549.1.1.1": ["rsaEncryption", "rsa"],
  "1.2.840.113549.1.1.10": ["rsassaPss", "rsa"],
  "1.2.840.10045.2.1": ["id-ecPublicKey", "ecdsa"],
  "1.2.840.10040.4.1": ["dsaEncryption", "dsa"],
  "1.3.101.112": ["ED25519", "ed25519"],
  "1.3.101.113": ["ED448", "ed448"],
};

const CURVES: Record<string, [string, number]> = {
  "1.2.840.10045.3.1.7": ["prime256v1", 256],
  "1.3.132.0.34": ["secp384r1", 384],
  "1.3.132.0.35": ["secp521r1", 521],
  "1.2.840.10045.3.1.1": ["prime192v1", 192],
  "1.3.132.0.33": ["secp224r1", 224],
  "1.3.132.0.10": ["secp256k1", 256],
};

const OID_SAN = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_SCT_LIST = "1.3.6.1.4.1.11129.2.4.2";

class DerFault extends Error {}

interface Tlv {
  readonly tag: number;
  readonly start: number;
  /** Offset of the value. */
  readonly value: number;
  readonly end: number;
}

function tlv(b: Buffer, off: number, limit: number): Tlv {
  if (off + 2 > limit) throw new DerFault("short");
  const tag = b[off]!;
  if ((tag & 0x1f) === 0x1f) throw new DerFault("high tag");
  let len = b[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new DerFault("length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new DerFault("overrun");
  return { tag, start: off, value: p, end: p + len };
}

function children(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.value; p < t.end; ) {
    const c = tlv(b, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function oid(b: Buffer, t: Tlv): string {
  if (t.tag !== 0x06 || t.end === t.value) throw new DerFault("oid");
  const parts: number[] = [];
  let v = 0;
  for (let p = t.value; p < t.end; p++) {
    v = v * 128 + (b[p]! & 0x7f);
    if (!(b[p]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts].join(".");
}

function str(b: Buffer, t: Tlv): string {
  switch (t.tag) {
    case 0x0c:
      return b.toString("utf8", t.value, t.end);
    case 0x1e: {
      // BMPString: UTF-16 big-endian.
      const s = Buffer.from(b.subarray(t.value, t.end));
      s.swap16();
      return s.toString("utf16le");
    }
    case 0x1c: {
      let out = "";
      for (let p = t.value; p + 3 < t.end; p += 4) out += String.fromCodePoint(b.readUInt32BE(p));
      return out;
    }
    default:
      // Printable, IA5, Teletex (treated as Latin-1, as OpenSSL does), Visible.
      return b.toString("latin1", t.value, t.end);
  }
}

function readName(b: Buffer, t: Tlv): Rdn[] {
  const rdns: Rdn[] = [];
  for (const set of children(b, t)) {
    for (const atv of children(b, set)) {
      const [type, value] = children(b, atv);
      if (!type || !value) throw new DerFault("atv");
      const o = oid(b, type);
      rdns.push({ type: OID_NAMES[o] ?? o, value: str(b, value) });
    }
  }
  return rdns;
}

/** RFC 4514 escaping of one attribute value. */
function escapeValue(v: string): string {
  let s = v.replace(/[,+"\\<>;=]/g, (c) => "\\" + c);
  if (s.startsWith(" ") || s.startsWith("#")) s = "\\" + s;
  if (s.endsWith(" ") && s.length > 1) s = s.slice(0, -1) + "\\ ";
  return s;
}

/** RFC 4514: the last RDN first, comma separated. */
export function rfc4514(rdns: Rdn[]): string {
  return rdns
    .slice()
    .reverse()
    .map((r) => `${r.type}=${escapeValue(r.value)}`)
    .join(",");
}

function time(b: Buffer, t: Tlv): number {
  const s = b.toString("latin1", t.value, t.end);
  let m: RegExpExecArray | null;
  if (t.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(s))) {
    const yy = Number(m[1]);
    // RFC 5280 4.1.2.5.1: UTCTime years 50-99 are 19xx.
    const year = yy >= 50 ? 1900 + yy : 2000 + yy;
    return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  }
  if (t.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?Z$/.exec(s))) {
    return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  }
  throw new DerFault("time");
}

function integerHex(b: Buffer, t: Tlv): string {
  let p = t.value;
  while (p < t.end - 1 && b[p] === 0) p++;
  return b.toString("hex", p, t.end).toUpperCase();
}

function bitLength(b: Buffer, t: Tlv): number {
  let p = t.value;
  while (p < t.end && b[p] === 0) p++;
  if (p === t.end) return 0;
  return (t.end - p - 1) * 8 + (32 - Math.clz32(b[p]!));
}

function ipText(b: Buffer, t: Tlv): string {
  const n = t.end - t.value;
  if (n === 4) return ipv4Text(b, t.value);
  if (n === 16) return ipv6Text(b, t.value);
  return b.toString("hex", t.value, t.end);
}

/** Parses a DER certificate; malformed DER returns an error kind, never throws. */
export function parseCertificate(der: Buffer): CertificateInfo | X509ErrorKind {
  try {
    return parse(der);
  } catch (e) {
    if (e instanceof DerFault) return "der_malformed";
    if (e instanceof RangeError) return "der_malformed";
    throw e;
  }
}

function parse(der: Buffer): CertificateInfo | X509ErrorKind {
  const cert = tlv(der, 0, der.length);
  if (cert.tag !== 0x30) return "not_a_certificate";
  const [tbs, sigAlg] = children(der, cert);
  if (!tbs || !sigAlg || tbs.tag !== 0x30) return "not_a_certificate";
  const f = children(der, tbs);
  let i = 0;
  let version = 1;
  if (f[0]?.tag === 0xa0) {
    const v = children(der, f[0])[0];
    if (v) version = der.readUIntBE(v.value, Math.min(6, Math.max(1, v.end - v.value))) + 1;
    i = 1;
  }
  const serialT = f[i];
  const issuerT = f[i + 2];
  const validityT = f[i + 3];
  const subjectT = f[i + 4];
  const spkiT = f[i + 5];
  if (!serialT || !issuerT || !validityT || !subjectT || !spkiT) return "not_a_certificate";
  const [nb, na] = children(der, validityT);
  if (!nb || !na) return "not_a_certificate";
  const subjectRdns = readName(der, subjectT);
  const issuerRdns = readName(der, issuerT);

  const [spkiAlg, spkiKey] = children(der, spkiT);
  if (!spkiAlg || !spkiKey) return "not_a_certificate";
  const [keyOidT, keyParam] = children(der, spkiAlg);
  const keyOid = keyOidT ? oid(der, keyOidT) : "";
  const [keyAlgorithm, keyType] = KEY_ALGS[keyOid] ?? [keyOid, "unknown" as const];
  let keyBits = 0;
  let rsaExponent: number | null = null;
  let curve: string | null = null;
  if (keyType === "rsa" && spkiKey.tag === 0x03) {
    // BIT STRING: one byte of unused bits, then RSAPublicKey ::= SEQUENCE { modulus, publicExponent }.
    const rsa = tlv(der, spkiKey.value + 1, spkiKey.end);
    const [mod, exp] = children(der, rsa);
    if (mod && exp) {
      keyBits = bitLength(der, mod);
      rsaExponent = exp.end - exp.value <= 6 ? der.readUIntBE(exp.value, exp.end - exp.value) : null;
    }
  } else if (keyType === "ecdsa" && keyParam?.tag === 0x06) {
    const c = CURVES[oid(der, keyParam)];
    curve = c?.[0] ?? oid(der, keyParam);
    keyBits = c?.[1] ?? 0;
  } else if (keyType === "dsa" && keyParam?.tag === 0x30) {
    const p = children(der, keyParam)[0];
    if (p) keyBits = bitLength(der, p);
  } else if (keyType === "ed25519") keyBits = 256;
  else if (keyType === "ed448") keyBits = 456;

  const sigOidT = children(der, sigAlg)[0];
  const sigOid = sigOidT ? oid(der, sigOidT) : "";

  const sanDns: string[] = [];
  const sanIp: string[] = [];
  const sanEmail: string[] = [];
  const sanUri: string[] = [];
  let isCa = false;
  let pathLen: number | null = null;
  let hasBasicConstraints = false;
  let hasSct = false;
  const extWrap = f.slice(i + 6).find((t) => t.tag === 0xa3);
  if (extWrap) {
    const exts = children(der, extWrap)[0];
    for (const ext of exts ? children(der, exts) : []) {
      const parts = children(der, ext);
      const id = parts[0] ? oid(der, parts[0]) : "";
      const value = parts[parts.length - 1];
      if (!value || value.tag !== 0x04) continue;
      if (id === OID_SAN) {
        const names = tlv(der, value.value, value.end);
        for (const gn of children(der, names)) {
          if (gn.tag === 0x82) sanDns.push(der.toString("latin1", gn.value, gn.end));
          else if (gn.tag === 0x81) sanEmail.push(der.toString("latin1", gn.value, gn.end));
          else if (gn.tag === 0x86) sanUri.push(der.toString("latin1", gn.value, gn.end));
          else if (gn.tag === 0x87) sanIp.push(ipText(der, gn));
        }
      } else if (id === OID_BASIC_CONSTRAINTS) {
        hasBasicConstraints = true;
        const seq = tlv(der, value.value, value.end);
        for (const c of children(der, seq)) {
          if (c.tag === 0x01) isCa = der[c.value] !== 0;
          else if (c.tag === 0x02 && c.end - c.value <= 4) pathLen = der.readUIntBE(c.value, Math.max(1, c.end - c.value));
        }
      } else if (id === OID_SCT_LIST) hasSct = true;
    }
  }

  const subject = rfc4514(subjectRdns);
  const issuer = rfc4514(issuerRdns);
  const selfIssued = der.subarray(subjectT.start, subjectT.end).equals(der.subarray(issuerT.start, issuerT.end));
  return {
    sha256: createHash("sha256").update(der.subarray(cert.start, cert.end)).digest("hex"),
    sha1: createHash("sha1").update(der.subarray(cert.start, cert.end)).digest("hex"),
    version,
    serial: integerHex(der, serialT),
    subject,
    issuer,
    subjectRdns,
    issuerRdns,
    notBeforeMs: time(der, nb),
    notAfterMs: time(der, na),
    keyAlgorithm,
    keyType,
    keyBits,
    rsaExponent,
    curve,
    signatureAlgorithm: SIG_ALGS[sigOid] ?? sigOid,
    sanDns,
    sanIp,
    sanEmail,
    sanUri,
    isCa,
    pathLen,
    hasBasicConstraints,
    hasSct,
    selfIssued,
    selfSigned: selfIssued && verifiesWithOwnKey(der),
  };
}

function verifiesWithOwnKey(der: Buffer): boolean {
  try {
    const c = new X509Certificate(der);
    return c.verify(c.publicKey);
  } catch {
    return false;
  }
}
