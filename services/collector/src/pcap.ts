// Streaming readers for pcap (both byte orders, micro- and nanosecond) and pcapng (SHB/IDB/EPB/SPB/OPB, several
// interfaces with their own link types and timestamp resolutions), optionally gzip-compressed.
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { StoqError } from "../../../lib/src/errors.js";

/** One captured frame. `tsUs` is wall-clock microseconds since the epoch (sub-µs precision is dropped). */
export interface CapturedPacket {
  readonly tsUs: number;
  readonly linkType: number;
  /** The captured bytes (may be shorter than `origLen` when the capture had a snap length). */
  readonly data: Buffer;
  readonly origLen: number;
  readonly interfaceId: number;
}

/** Why a record of the capture file itself was skipped; a packet-level fault is counted, never thrown. */
export type CaptureErrorKind = "truncated_record" | "bad_block" | "unknown_interface" | "oversized_record";

export interface CaptureStats {
  packets: number;
  errors: Record<CaptureErrorKind, number>;
}

export function newCaptureStats(): CaptureStats {
  return { packets: 0, errors: { truncated_record: 0, bad_block: 0, unknown_interface: 0, oversized_record: 0 } };
}

// A record larger than this is corrupt rather than a jumbo frame (pcapng caps the block length similarly).
const MAX_RECORD = 256 * 1024;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER = 0x1a2b3c4d;

interface NgInterface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per microsecond (1 for the default 10^-6 resolution). */
  unitsPerUs: number;
  offsetUs: number;
}

/*
 * pcap file header (24 bytes): magic u32 | version u16.u16 | thiszone i32 | sigfigs u32 | snaplen u32 |
 * linktype u32 (the low 16 bits; FCS bits above are ignored). Record header (16 bytes): ts_sec u32 |
 * ts_frac u32 (µs or ns by magic) | incl_len u32 | orig_len u32, then incl_len bytes.
 *
 * pcapng block: type u32 | total length u32 | body | total length u32, byte order fixed by each section's
 * SHB (byte-order magic 0x1A2B3C4D). IDB body: linktype u16 | reserved u16 | snaplen u32 | options
 * (if_tsresol code 9, if_tsoffset code 14). EPB body: interface u32 | ts high u32 | ts low u32 | caplen u32 |
 * origlen u32 | data. SPB body: origlen u32 | data (interface 0). OPB (obsolete, type 2): interface u16 |
 * drops u16 | ts high | ts low | caplen | origlen | data.
 */

/** Incremental decoder: feed it bytes in any chunking, it yields whole packets. */
export class CaptureDecoder {
  readonly stats: CaptureStats = newCaptureStats();
  private pending: Buffer = Buffer.alloc(0);
  private format: "unknown" | "pcap" | "pcapng" = "unknown";
  private little = true;
  private nano = false;
  private linkType = 0;
  private interfaces: NgInterface[] = [];

  /** Decodes every complete record in `chunk` plus what was held back from earlier chunks. */
  *push(chunk: Buffer): Generator<CapturedPacket> {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    if (this.format === "unknown") {
      if (buf.length < 24) {
        this.pending = buf;
        return;
      }
      off = this.readFileHeader(buf);
    }
    if (this.format === "pcap") {
      for (;;) {
        if (buf.length - off < 16) break;
        const inclLen = this.u32(buf, off + 8);
        if (inclLen > MAX_RECORD) {
          // A corrupt length: nothing after it can be framed reliably.
          this.stats.errors.oversized_record++;
          off = buf.length;
          break;
        }
        if (buf.length - off < 16 + inclLen) break;
        const sec = this.u32(buf, off);
        const frac = this.u32(buf, off + 4);
        const origLen = this.u32(buf, off + 12);
        const tsUs = sec * 1e6 + (this.nano ? Math.floor(frac / 1000) : frac);
        this.stats.packets++;
        yield { tsUs, linkType: this.linkType, data: buf.subarray(off + 16, off + 16 + inclLen), origLen, interfaceId: 0 };
        off += 16 + inclLen;
      }
    } else {
      for (;;) {
        if (buf.length - off < 12) break;
        const type = this.u32(buf, off);
        if (type === PCAPNG_SHB) {
          // A new section may switch byte order: read its byte-order magic before its length.
          const bom = buf.readUInt32LE(off + 8);
          this.little = bom === PCAPNG_BYTE_ORDER;
          this.interfaces = [];
        }
        const len = this.u32(buf, off + 4);
        if (len < 12 || len % 4 !== 0 || len > MAX_RECORD) {
          this.stats.errors.bad_block++;
          off = buf.length;
          break;
        }
        if (buf.length - off < len) break;
        const pkt = this.readBlock(buf, off, type, len);
        off += len;
        if (pkt) {
          this.stats.packets++;
          yield pkt;
        }
      }
    }
    // Keep only the unread tail; copy it so a large chunk is not pinned by a few leftover bytes.
    this.pending = off >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
  }

  /** Call at end of input: a partial record left over is counted. */
  end(): void {
    if (this.pending.length > 0) this.stats.errors.truncated_record++;
    this.pending = Buffer.alloc(0);
  }

  private u32(buf: Buffer, off: number): number {
    return this.little ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
  }

  private u16(buf: Buffer, off: number): number {
    return this.little ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
  }

  private readFileHeader(buf: Buffer): number {
    const le = buf.readUInt32LE(0);
    const be = buf.readUInt32BE(0);
    if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) {
      this.little = true;
      this.nano = le === PCAP_MAGIC_NS;
    } else if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) {
      this.little = false;
      this.nano = be === PCAP_MAGIC_NS;
    } else if (le === PCAPNG_SHB) {
      this.format = "pcapng";
      return 0;
    } else {
      throw new StoqError(
        "PACKET_MALFORMED",
        `not a pcap or pcapng file (magic ${buf.subarray(0, 4).toString("hex")}); give a .pcap, .pcapng or gzip of one`,
      );
    }
    this.format = "pcap";
    this.linkType = this.u32(buf, 20) & 0xffff;
    return 24;
  }

  private readBlock(buf: Buffer, off: number, type: number, len: number): CapturedPacket | null {
    const body = off + 8;
    const bodyEnd = off + len - 4;
    switch (type) {
      case 1: {
        if (bodyEnd - body < 8) {
          this.stats.errors.bad_block++;
          return null;
        }
        const iface: NgInterface = { linkType: this.u16(buf, body), snapLen: this.u32(buf, body + 4), unitsPerUs: 1, offsetUs: 0 };
        this.readIdbOptions(buf, body + 8, bodyEnd, iface);
        this.interfaces.push(iface);
        return null;
      }
      case 6:
      case 2: {
        const hdr = 20;
        if (bodyEnd - body < hdr) {
          this.stats.errors.bad_block++;
          return null;
        }
        const ifId = type === 6 ? this.u32(buf, body) : this.u16(buf, body);
        const iface = this.interfaces[ifId];
        if (!iface) {
          this.stats.errors.unknown_interface++;
          return null;
        }
        const hi = this.u32(buf, body + 4);
        const lo = this.u32(buf, body + 8);
        const capLen = this.u32(buf, body + 12);
        const origLen = this.u32(buf, body + 16);
        if (capLen > bodyEnd - body - hdr) {
          this.stats.errors.truncated_record++;
          return null;
        }
        const tsUs = Math.floor(hi * (4294967296 / iface.unitsPerUs) + lo / iface.unitsPerUs) + iface.offsetUs;
        const data = buf.subarray(body + hdr, body + hdr + capLen);
        return { tsUs, linkType: iface.linkType, data, origLen, interfaceId: ifId };
      }
      case 3: {
        const iface = this.interfaces[0];
        if (!iface) {
          this.stats.errors.unknown_interface++;
          return null;
        }
        const origLen = this.u32(buf, body);
        let capLen = Math.min(origLen, bodyEnd - body - 4);
        if (iface.snapLen > 0) capLen = Math.min(capLen, iface.snapLen);
        // A simple packet block has no timestamp; 0 marks "unknown" rather than inventing one.
        return { tsUs: 0, linkType: iface.linkType, data: buf.subarray(body + 4, body + 4 + capLen), origLen, interfaceId: 0 };
      }
      default:
        return null;
    }
  }

  private readIdbOptions(buf: Buffer, off: number, end: number, iface: NgInterface): void {
    while (off + 4 <= end) {
      const code = this.u16(buf, off);
      const len = this.u16(buf, off + 2);
      const val = off + 4;
      if (code === 0 || val + len > end) return;
      if (code === 9 && len >= 1) {
        const r = buf[val] ?? 6;
        // MSB set: a negative power of two; clear: a negative power of ten.
        const unitsPerSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
        iface.unitsPerUs = unitsPerSec / 1e6;
      } else if (code === 14 && len >= 8) {
        const secs = this.little ? buf.readBigInt64LE(val) : buf.readBigInt64BE(val);
        iface.offsetUs = Number(secs) * 1e6;
      }
      off = val + ((len + 3) & ~3);
    }
  }
}

/** Opens a capture file (gzip detected by its magic) as a byte stream. */
export async function openCaptureStream(path: string): Promise<Readable> {
  const probe = createReadStream(path, { start: 0, end: 1 });
  let head = Buffer.alloc(0);
  for await (const c of probe) head = Buffer.concat([head, c as Buffer]);
  const raw = createReadStream(path, { highWaterMark: 256 * 1024 });
  if (head[0] === 0x1f && head[1] === 0x8b) return raw.pipe(createGunzip());
  return raw;
}

/** Streams the packets of a pcap/pcapng(.gz) file; `decoder.stats` holds the file-level counters. */
export async function* readCapture(path: string, decoder: CaptureDecoder = new CaptureDecoder()): AsyncGenerator<CapturedPacket> {
  const stream = await openCaptureStream(path);
  for await (const chunk of stream) yield* decoder.push(chunk as Buffer);
  decoder.end();
}
