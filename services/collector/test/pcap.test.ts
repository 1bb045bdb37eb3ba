import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaptureDecoder, readCapture, type CapturedPacket } from "../src/pcap.js";
import { allCaptures, tsharkFields } from "./tshark.js";

async function collect(path: string): Promise<CapturedPacket[]> {
  const out: CapturedPacket[] = [];
  for await (const p of readCapture(path)) out.push(p);
  return out;
}

test("every capture: packet count, lengths and timestamps agree with tshark", async () => {
  const captures = allCaptures();
  assert.ok(captures.length >= 60, `found ${captures.length} captures`);
  for (const path of captures) {
    const ours = await collect(path);
    const rows = tsharkFields(path, ["frame.time_epoch", "frame.cap_len", "frame.len"]);
    assert.equal(ours.length, rows.length, `${path}: packet count`);
    for (let i = 0; i < rows.length; i++) {
      const [, epoch, cap, len] = rows[i]!;
      const p = ours[i]!;
      assert.equal(p.data.length, Number(cap), `${path} #${i + 1} caplen`);
      assert.equal(p.origLen, Number(len), `${path} #${i + 1} len`);
      // tshark prints nanoseconds; we keep microseconds.
      const [sec, frac = "0"] = epoch!.split(".");
      const us = Number(sec) * 1e6 + Math.floor(Number(frac.padEnd(9, "0")) / 1000);
      assert.ok(Math.abs(p.tsUs - us) <= 1, `${path} #${i + 1} ts ${p.tsUs} vs ${us}`);
    }
  }
});

function pcapHeader(little: boolean, nano: boolean, linkType: number): Buffer {
  const b = Buffer.alloc(24);
  const magic = nano ? 0xa1b23c4d : 0xa1b2c3d4;
  if (little) {
    b.writeUInt32LE(magic, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeUInt32LE(65535, 16);
    b.writeUInt32LE(linkType, 20);
  } else {
    b.writeUInt32BE(magic, 0);
    b.writeUInt16BE(2, 4);
    b.writeUInt16BE(4, 6);
    b.writeUInt32BE(65535, 16);
    b.writeUInt32BE(linkType, 20);
  }
  return b;
}

function pcapRecord(little: boolean, sec: number, frac: number, data: Buffer): Buffer {
  const h = Buffer.alloc(16);
  const w = (v: number, o: number): number => (little ? h.writeUInt32LE(v, o) : h.writeUInt32BE(v, o));
  w(sec, 0);
  w(frac, 4);
  w(data.length, 8);
  w(data.length, 12);
  return Buffer.concat([h, data]);
}

test("pcap: both byte orders, micro and nano resolution, any chunking", () => {
  const frame = Buffer.from("45000014000000004011000001020304050607080000", "hex");
  for (const little of [true, false]) {
    for (const nano of [false, true]) {
      const file = Buffer.concat([
        pcapHeader(little, nano, 101),
        pcapRecord(little, 1_700_000_000, nano ? 123_456_789 : 123_456, frame),
        pcapRecord(little, 1_700_000_001, nano ? 5_000 : 5, frame),
      ]);
      // Feed one byte at a time: records straddle every possible boundary.
      const d = new CaptureDecoder();
      const got: CapturedPacket[] = [];
      for (let i = 0; i < file.length; i++) got.push(...d.push(file.subarray(i, i + 1)));
      d.end();
      assert.equal(got.length, 2);
      assert.equal(got[0]!.tsUs, 1_700_000_000_123_456);
      assert.equal(got[1]!.tsUs, 1_700_000_001_000_005);
      assert.equal(got[0]!.linkType, 101);
      assert.deepEqual(got[0]!.data, frame);
      assert.equal(d.stats.errors.truncated_record, 0);
    }
  }
});

function block(type: number, body: Buffer): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const len = 12 + body.length + pad;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

test("pcapng: two interfaces with their own link type and timestamp resolution, EPB and SPB", () => {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeBigInt64LE(-1n, 8);
  const idb = (link: number, tsresol: number | null): Buffer => {
    const parts = [Buffer.alloc(8)];
    parts[0]!.writeUInt16LE(link, 0);
    parts[0]!.writeUInt32LE(0, 4);
    if (tsresol !== null) parts.push(Buffer.from([9, 0, 1, 0, tsresol, 0, 0, 0]));
    parts.push(Buffer.alloc(4));
    return Buffer.concat(parts);
  };
  const epb = (iface: number, ts: bigint, data: Buffer): Buffer => {
    const h = Buffer.alloc(20);
    h.writeUInt32LE(iface, 0);
    h.writeUInt32LE(Number(ts >> 32n), 4);
    h.writeUInt32LE(Number(ts & 0xffffffffn), 8);
    h.writeUInt32LE(data.length, 12);
    h.writeUInt32LE(data.length, 16);
    return Buffer.concat([h, data]);
  };
  const eth = Buffer.alloc(60);
  const raw = Buffer.from("60000000000011400000000000000000000000000000000100000000000000000000000000000001", "hex");
  const spb = Buffer.concat([Buffer.from([eth.length, 0, 0, 0]), eth]);
  const file = Buffer.concat([
    block(0x0a0d0d0a, shb),
    block(1, idb(1, null)),
    block(1, idb(229, 9)),
    block(6, epb(0, 1_700_000_000_123_456n, eth)),
    block(6, epb(1, 1_700_000_000_123_456_789n, raw)),
    block(3, spb),
  ]);
  const d = new CaptureDecoder();
  const got = [...d.push(file)];
  d.end();
  assert.equal(got.length, 3);
  assert.deepEqual(
    got.map((p) => [p.linkType, p.interfaceId, p.tsUs, p.data.length]),
    [
      [1, 0, 1_700_000_000_123_456, 60],
      [229, 1, 1_700_000_000_123_456, raw.length],
      [1, 0, 0, 60],
    ],
  );
});

test("gzip-compressed capture reads the same packets as the plain file", async () => {
  const src = allCaptures().find((p) => p.endsWith("dns_tcp.pcap"))!;
  const dir = mkdtempSync(join(tmpdir(), "stoq-pcap-"));
  const gz = join(dir, "x.pcap.gz");
  writeFileSync(gz, gzipSync(readFileSync(src)));
  const a = await collect(src);
  const b = await collect(gz);
  assert.equal(b.length, a.length);
  assert.ok(a.length > 0);
  for (let i = 0; i < a.length; i++) assert.deepEqual(b[i]!.data, a[i]!.data);
});

test("a file cut mid-record counts the truncated record and keeps the packets before it", () => {
  const frame = Buffer.alloc(40, 1);
  const file = Buffer.concat([pcapHeader(true, false, 1), pcapRecord(true, 1, 0, frame), pcapRecord(true, 2, 0, frame)]);
  const d = new CaptureDecoder();
  const got = [...d.push(file.subarray(0, file.length - 5))];
  d.end();
  assert.equal(got.length, 1);
  assert.equal(d.stats.errors.truncated_record, 1);
  assert.throws(() => [...new CaptureDecoder().push(Buffer.alloc(64, 7))], /not a pcap or pcapng file/);
});
