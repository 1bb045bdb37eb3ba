// Writes classic little-endian pcap files (microsecond timestamps) for generated scenarios and fixtures.
import { createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";

export const LINKTYPE_ETHERNET = 1;

/* Global header (24 bytes): magic a1b2c3d4, version 2.4, thiszone 0, sigfigs 0, snaplen, linktype.
 * Record header (16 bytes): ts_sec, ts_usec, incl_len, orig_len; then incl_len bytes. */
const GLOBAL_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
const SNAPLEN = 65535;

export interface TimedPacket {
  /** Capture time in microseconds since the Unix epoch. */
  readonly tsUs: number;
  readonly data: Uint8Array;
}

export function pcapGlobalHeader(linktype = LINKTYPE_ETHERNET): Buffer {
  const b = Buffer.alloc(GLOBAL_HEADER_BYTES);
  b.writeUInt32LE(0xa1b2c3d4, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(SNAPLEN, 16);
  b.writeUInt32LE(linktype, 20);
  return b;
}

export function pcapRecord(p: TimedPacket): Buffer {
  const h = Buffer.alloc(RECORD_HEADER_BYTES);
  const sec = Math.floor(p.tsUs / 1e6);
  h.writeUInt32LE(sec, 0);
  h.writeUInt32LE(Math.round(p.tsUs - sec * 1e6), 4);
  h.writeUInt32LE(p.data.length, 8);
  h.writeUInt32LE(p.data.length, 12);
  return Buffer.concat([h, p.data]);
}

/** Streams packets (in the order given) to a pcap file; resolves when the file is closed. */
export async function writePcap(path: string, packets: Iterable<TimedPacket>, linktype = LINKTYPE_ETHERNET): Promise<number> {
  const out: WriteStream = createWriteStream(path);
  let n = 0;
  out.write(pcapGlobalHeader(linktype));
  for (const p of packets) {
    if (!out.write(pcapRecord(p))) await once(out, "drain");
    n++;
  }
  out.end();
  await once(out, "close");
  return n;
}
