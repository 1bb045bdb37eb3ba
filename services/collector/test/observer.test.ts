import { test } from "node:test";
import assert from "node:assert/strict";
import { readCapture, type CapturedPacket } from "../src/pcap.js";
import { Observer, type DnsObservation } from "../src/observer.js";
import { certObservation, dnsEvent, flowRecord } from "../src/records.js";
import { TCP_FLAG } from "../src/packet.js";
import { allCaptures } from "./tshark.js";

test("randomly corrupted and truncated packets from every capture never throw out of the per-packet path", async () => {
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  let packets = 0;
  for (const path of allCaptures().filter((p) => p.includes("/peer/"))) {
    const pkts: CapturedPacket[] = [];
    for await (const p of readCapture(path)) pkts.push(p);
    for (let round = 0; round < 4; round++) {
      const o = new Observer((ob) => {
        if (ob.kind === "dns") dnsEvent(ob, "t");
        else if (ob.kind === "flow") flowRecord(ob.flow, "t");
        else if (ob.kind === "cert") certObservation(ob, "t");
      });
      for (const p of pkts) {
        const d = Buffer.from(p.data);
        for (let i = Math.floor(rnd() * 4); i > 0; i--) d[Math.floor(rnd() * d.length)] = Math.floor(rnd() * 256);
        o.capture({ ...p, data: d.subarray(0, rnd() < 0.1 ? Math.floor(rnd() * d.length) : d.length) });
        packets++;
      }
      o.flush();
      assert.equal(o.stats.internalErrors, 0, `${path}: ${o.stats.lastInternalError}`);
    }
  }
  assert.ok(packets > 4000, `only ${packets} packets`);
});

/** An IPv4/TCP frame on the raw-IP link type. */
function tcpFrame(tsUs: number, src: number, sport: number, dport: number, seq: number, flags: number, payload: Buffer): CapturedPacket {
  const ip = Buffer.alloc(40 + payload.length);
  ip[0] = 0x45;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  ip.writeUInt32BE(0xc6120000 + src, 12);
  ip.writeUInt32BE(0xc6120000 + (src === 1 ? 2 : 1), 16);
  ip.writeUInt16BE(sport, 20);
  ip.writeUInt16BE(dport, 22);
  ip.writeUInt32BE(seq, 24);
  ip[32] = 0x50;
  ip[33] = flags;
  ip.writeUInt16BE(1000, 34);
  payload.copy(ip, 40);
  return { tsUs, linkType: 101, data: ip, origLen: ip.length, interfaceId: 0 };
}

test("DNS over TCP: a message split across out-of-order segments, after a retransmission, is read once", () => {
  // Query for example.com A, with the 2-byte length prefix.
  const msg = Buffer.from("abcd01000001000000000000076578616d706c6503636f6d0000010001", "hex");
  const wire = Buffer.concat([Buffer.from([0, msg.length]), msg]);
  const got: DnsObservation[] = [];
  const o = new Observer((ob) => void (ob.kind === "dns" && got.push(ob)));
  o.capture(tcpFrame(0, 1, 40000, 53, 1000, TCP_FLAG.SYN, Buffer.alloc(0)));
  o.capture(tcpFrame(10, 1, 40000, 53, 1001 + 10, TCP_FLAG.ACK | TCP_FLAG.PSH, wire.subarray(10)));
  o.capture(tcpFrame(20, 1, 40000, 53, 1001, TCP_FLAG.ACK, wire.subarray(0, 10)));
  o.capture(tcpFrame(30, 1, 40000, 53, 1001, TCP_FLAG.ACK, wire.subarray(0, 10)));
  o.flush();
  assert.equal(got.length, 1);
  assert.equal(got[0]!.transport, "tcp");
  assert.equal(got[0]!.message.questions[0]!.name, "example.com");
  assert.equal(got[0]!.message.id, 0xabcd);
});
