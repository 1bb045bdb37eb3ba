// TLS handshake parser for one direction of a connection: reads records and handshake messages across
// segment boundaries (bounded) and reports ClientHello, ServerHello, Certificate, key exchange and alerts.
// TLS 1.3 encrypts the server's certificates, so only TLS 1.0-1.2 (and SSL 3) handshakes yield them.
import { ByteQueue } from "./tcp-stream.js";

/*
 * Record: content_type u8 (20 CCS, 21 alert, 22 handshake, 23 application data, 24 heartbeat) |
 *         legacy_version u16 | length u16 (<= 2^14 + 2048) | fragment.
 * Handshake: msg_type u8 | length u24 | body; messages may span records and records may hold several.
 * ClientHello: version u16 | random[32] | session_id<0..32> | cipher_suites<2..2^16-2> |
 *              compression_methods<1..2^8-1> | extensions<0..2^16-1> (type u16 | data<0..2^16-1>).
 * ServerHello: version u16 | random[32] | session_id<0..32> | cipher_suite u16 | compression u8 | extensions.
 * Certificate (<= 1.2): certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>.
 */

export interface ClientHello {
  readonly version: number;
  readonly sni: string | null;
  readonly alpn: string[];
  readonly supportedVersions: number[];
  readonly cipherSuites: number[];
  readonly extensions: number[];
  readonly groups: number[];
  readonly sessionIdLength: number;
}

export interface ServerHello {
  readonly version: number;
  /** The negotiated version: supported_versions when present (TLS 1.3), else the legacy field. */
  readonly selectedVersion: number;
  readonly cipherSuite: number;
  readonly alpn: string | null;
  readonly extensions: number[];
  readonly keyShareGroup: number | null;
  readonly helloRetry: boolean;
  readonly sessionId: string;
}

export type TlsEvent =
  | { readonly type: "client_hello"; readonly hello: ClientHello }
  | { readonly type: "server_hello"; readonly hello: ServerHello }
  | { readonly type: "certificate"; readonly chain: Buffer[] }
  | { readonly type: "key_exchange_curve"; readonly group: number }
  | { readonly type: "alert"; readonly level: number; readonly description: number }
  | { readonly type: "change_cipher_spec" }
  | { readonly type: "application_data" };

export type TlsErrorKind = "not_tls" | "record_too_long" | "handshake_too_long" | "hello_malformed" | "certificate_malformed" | "buffer_exceeded";

// RFC 8446 5.1/5.2: a record carries at most 2^14 bytes plus expansion; more is not TLS.
const MAX_RECORD = 16384 + 2048;
// A certificate chain with thousands of SANs (badssl's 10,000-SAN leaf) still fits; beyond this we stop.
const MAX_HANDSHAKE = 1 << 20;
const HELLO_RETRY_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c";

/** Reads a handshake hello body; returns null when it does not hold together. */
export function parseClientHello(b: Buffer): ClientHello | null {
  try {
    let p = 0;
    const version = b.readUInt16BE(p);
    p += 2 + 32;
    const sidLen = b[p]!;
    p += 1 + sidLen;
    const csLen = b.readUInt16BE(p);
    p += 2;
    if (p + csLen > b.length) return null;
    const cipherSuites: number[] = [];
    for (let i = 0; i + 1 < csLen; i += 2) cipherSuites.push(b.readUInt16BE(p + i));
    p += csLen;
    const compLen = b[p]!;
    p += 1 + compLen;
    if (p > b.length) return null;
    let sni: string | null = null;
    const alpn: string[] = [];
    const supportedVersions: number[] = [];
    const extensions: number[] = [];
    const groups: number[] = [];
    if (p + 2 <= b.length) {
      const extEnd = Math.min(b.length, p + 2 + b.readUInt16BE(p));
      p += 2;
      while (p + 4 <= extEnd) {
        const type = b.readUInt16BE(p);
        const len = b.readUInt16BE(p + 2);
        const d = p + 4;
        if (d + len > extEnd) return null;
        extensions.push(type);
        if (type === 0 && len >= 5) {
          // server_name list: one host_name entry in practice.
          let q = d + 2;
          const end = d + 2 + b.readUInt16BE(d);
          while (q + 3 <= Math.min(end, d + len)) {
            const nameType = b[q]!;
            const nl = b.readUInt16BE(q + 1);
            if (nameType === 0 && sni === null) sni = b.toString("latin1", q + 3, Math.min(q + 3 + nl, d + len));
            q += 3 + nl;
          }
        } else if (type === 16 && len >= 2) {
          for (let q = d + 2; q < d + len; ) {
            const l = b[q]!;
            alpn.push(b.toString("latin1", q + 1, Math.min(q + 1 + l, d + len)));
            q += 1 + l;
          }
        } else if (type === 43 && len >= 1) {
          for (let q = d + 1; q + 1 < d + 1 + b[d]! && q + 1 < d + len; q += 2) supportedVersions.push(b.readUInt16BE(q));
        } else if (type === 10 && len >= 2) {
          for (let q = d + 2; q + 1 < d + len; q += 2) groups.push(b.readUInt16BE(q));
        }
        p = d + len;
      }
    }
    return { version, sni, alpn, supportedVersions, cipherSuites, extensions, groups, sessionIdLength: sidLen };
  } catch {
    return null;
  }
}

export function parseServerHello(b: Buffer): ServerHello | null {
  try {
    let p = 0;
    const version = b.readUInt16BE(p);
    const random = b.subarray(2, 34).toString("hex");
    p += 2 + 32;
    // TLS 1.3 drafts before 22 put the draft version here and drop session id and compression.
    const draft = version >> 8 === 0x7f;
    const sidLen = draft ? 0 : b[p]!;
    const sessionId = b.toString("hex", p + 1, p + 1 + sidLen);
    if (!draft) p += 1 + sidLen;
    const cipherSuite = b.readUInt16BE(p);
    p += draft ? 2 : 3;
    if (p > b.length) return null;
    let selectedVersion = version;
    let alpn: string | null = null;
    let keyShareGroup: number | null = null;
    const extensions: number[] = [];
    if (p + 2 <= b.length) {
      const extEnd = Math.min(b.length, p + 2 + b.readUInt16BE(p));
      p += 2;
      while (p + 4 <= extEnd) {
        const type = b.readUInt16BE(p);
        const len = b.readUInt16BE(p + 2);
        const d = p + 4;
        if (d + len > extEnd) return null;
        extensions.push(type);
        if (type === 43 && len === 2) selectedVersion = b.readUInt16BE(d);
        else if (type === 16 && len >= 3) alpn = b.toString("latin1", d + 3, Math.min(d + 3 + b[d + 2]!, d + len));
        else if (type === 51 && len >= 2) keyShareGroup = b.readUInt16BE(d);
        p = d + len;
      }
    }
    return { version, selectedVersion, cipherSuite, alpn, extensions, keyShareGroup, helloRetry: random === HELLO_RETRY_RANDOM, sessionId };
  } catch {
    return null;
  }
}

function parseCertificateList(b: Buffer): Buffer[] | null {
  if (b.length < 3) return null;
  const total = b.readUIntBE(0, 3);
  if (3 + total > b.length) return null;
  const chain: Buffer[] = [];
  for (let p = 3; p < 3 + total; ) {
    if (p + 3 > 3 + total) return null;
    const l = b.readUIntBE(p, 3);
    if (p + 3 + l > 3 + total) return null;
    chain.push(Buffer.from(b.subarray(p + 3, p + 3 + l)));
    p += 3 + l;
  }
  return chain;
}

/** One direction of a TLS connection. Feed it the reassembled stream; it returns the events it finds. */
export class TlsDirection {
  private readonly records = new ByteQueue(MAX_RECORD + 5);
  private readonly handshake = new ByteQueue(MAX_HANDSHAKE);
  /** After ChangeCipherSpec (or TLS 1.3's ServerHello) handshake bytes are ciphertext. */
  encrypted = false;
  failed: TlsErrorKind | null = null;

  /** Resets after a stream gap: records cannot be framed across a hole. */
  gap(): void {
    if (!this.encrypted) this.failed ??= "buffer_exceeded";
  }

  push(chunks: Buffer[]): TlsEvent[] {
    const events: TlsEvent[] = [];
    if (this.failed) return events;
    let total = 0;
    for (const c of chunks) total += c.length;
    if (total === 0) return events;
    if (!this.records.append(chunks)) {
      this.failed = "record_too_long";
      return events;
    }
    for (;;) {
      const b = this.records.peek();
      if (b.length < 5) break;
      const type = b[0]!;
      const major = b[1]!;
      const len = b.readUInt16BE(3);
      if (type < 20 || type > 24 || major !== 3) {
        this.failed = "not_tls";
        this.records.clear();
        break;
      }
      if (len > MAX_RECORD) {
        this.failed = "record_too_long";
        this.records.clear();
        break;
      }
      if (b.length < 5 + len) break;
      const frag = b.subarray(5, 5 + len);
      this.records.consume(5 + len);
      if (type === 20) {
        this.encrypted = true;
        events.push({ type: "change_cipher_spec" });
      } else if (type === 21) {
        if (!this.encrypted && len === 2) events.push({ type: "alert", level: frag[0]!, description: frag[1]! });
      } else if (type === 23) {
        this.encrypted = true;
        events.push({ type: "application_data" });
      } else if (type === 22 && !this.encrypted) {
        if (!this.handshake.append([frag])) {
          this.failed = "handshake_too_long";
          break;
        }
        this.readHandshakes(events);
      }
      if (this.failed) break;
    }
    return events;
  }

  private readHandshakes(events: TlsEvent[]): void {
    for (;;) {
      const b = this.handshake.peek();
      if (b.length < 4) return;
      const msgType = b[0]!;
      const len = b.readUIntBE(1, 3);
      if (len > MAX_HANDSHAKE) {
        this.failed = "handshake_too_long";
        return;
      }
      if (b.length < 4 + len) return;
      const body = b.subarray(4, 4 + len);
      this.handshake.consume(4 + len);
      switch (msgType) {
        case 1: {
          const hello = parseClientHello(body);
          if (hello) events.push({ type: "client_hello", hello });
          else this.failed = "hello_malformed";
          break;
        }
        case 2: {
          const hello = parseServerHello(body);
          if (!hello) {
            this.failed = "hello_malformed";
            break;
          }
          events.push({ type: "server_hello", hello });
          // TLS 1.3 (and its drafts, 0x7fxx) encrypts everything after ServerHello.
          if (!hello.helloRetry && (hello.selectedVersion === 0x0304 || hello.selectedVersion >> 8 === 0x7f)) {
            this.encrypted = true;
            this.handshake.clear();
            return;
          }
          break;
        }
        case 11: {
          const chain = parseCertificateList(body);
          if (chain) events.push({ type: "certificate", chain });
          else this.failed = "certificate_malformed";
          break;
        }
        case 12: {
          // ServerKeyExchange for ECDHE: curve_type 3 (named_curve) then the group id.
          if (body.length >= 3 && body[0] === 3) events.push({ type: "key_exchange_curve", group: body.readUInt16BE(1) });
          break;
        }
        default:
          break;
      }
      if (this.failed) return;
    }
  }
}

/** True when a stream's first bytes look like a TLS handshake record (used to find TLS on any port). */
export function looksLikeTlsHandshake(b: Buffer): boolean {
  return b.length >= 6 && b[0] === 22 && b[1] === 3 && b[2]! <= 4 && (b[5] === 1 || b[5] === 2);
}

export function tlsVersionName(v: number): string {
  switch (v) {
    case 0x0300:
      return "SSLv3";
    case 0x0301:
      return "TLSv10";
    case 0x0302:
      return "TLSv11";
    case 0x0303:
      return "TLSv12";
    case 0x0304:
      return "TLSv13";
    default:
      if (v >> 8 === 0x7f) return `TLSv13-draft${v & 0xff}`;
      return `0x${v.toString(16).padStart(4, "0")}`;
  }
}
