import { test } from "node:test";
import assert from "node:assert/strict";
import { FlowTable, type FlowExport } from "../src/flow-table.js";
import { TCP_FLAG, type DecodedPacket } from "../src/packet.js";

function pkt(tsUs: number, src: string, sport: number, dst: string, dport: number, o: { flags?: number; seq?: number; ack?: number; len?: number; win?: number; proto?: number } = {}): DecodedPacket {
  const proto = o.proto ?? 6;
  const len = o.len ?? 0;
  return {
    tsUs,
    frameLen: 54 + len,
    wireLen: 54 + len,
    srcMac: null,
    dstMac: null,
    vlans: [],
    ipVersion: 4,
    src,
    dst,
    proto,
    ttl: 64,
    ipLen: 40 + len,
    firstFragment: false,
    srcPort: sport,
    dstPort: dport,
    tcp: proto === 6 ? { seq: o.seq ?? 0, ack: o.ack ?? 0, flags: o.flags ?? TCP_FLAG.ACK, window: o.win ?? 1000 } : null,
    payload: Buffer.alloc(len),
    payloadLen: len,
    laterFragment: false,
  };
}

const A = "198.18.0.1";
const B = "198.18.0.2";

test("a TCP connection: orientation, per-direction counters, moments, flags, RTT, retransmission, FIN close", () => {
  const out: FlowExport[] = [];
  const t = new FlowTable((f) => out.push(f), { closeLingerUs: 1_000_000 });
  t.add(pkt(1_000, A, 40000, B, 80, { flags: TCP_FLAG.SYN, seq: 100 }));
  t.add(pkt(1_500, B, 80, A, 40000, { flags: TCP_FLAG.SYN | TCP_FLAG.ACK, seq: 900, ack: 101 }));
  t.add(pkt(1_700, A, 40000, B, 80, { ack: 901, seq: 101 }));
  t.add(pkt(2_000, A, 40000, B, 80, { flags: TCP_FLAG.ACK | TCP_FLAG.PSH, seq: 101, len: 10 }));
  t.add(pkt(3_000, A, 40000, B, 80, { flags: TCP_FLAG.ACK | TCP_FLAG.PSH, seq: 101, len: 10 }));
  t.add(pkt(3_100, B, 80, A, 40000, { seq: 901, ack: 111, win: 0 }));
  t.add(pkt(4_000, A, 40000, B, 80, { flags: TCP_FLAG.FIN | TCP_FLAG.ACK, seq: 111, ack: 901 }));
  t.add(pkt(4_100, B, 80, A, 40000, { flags: TCP_FLAG.FIN | TCP_FLAG.ACK, seq: 901, ack: 112 }));
  assert.equal(out.length, 0);
  t.add(pkt(4_200, A, 40000, B, 80, { seq: 112, ack: 902 }));
  // The closing ACK belongs to the same flow; the flow ends after the linger.
  t.expire(4_200 + 1_000_000);
  assert.equal(out.length, 1);
  const f = out[0]!;
  assert.equal(f.endReason, "fin");
  assert.equal(f.initiator, A);
  assert.equal(f.initiatorPort, 40000);
  assert.deepEqual([f.fwd.packets, f.rev.packets], [6, 3]);
  assert.equal(f.fwd.ipBytes, 6 * 40 + 20);
  assert.equal(f.fwd.payloadBytes, 20);
  assert.equal(f.fwd.sizeSumSq, 4 * 40 * 40 + 2 * 50 * 50);
  assert.equal(f.synCount, 2);
  assert.equal(f.finCount, 2);
  assert.equal(f.fwd.retransmissions, 1);
  assert.equal(f.rev.zeroWindow, 1);
  assert.equal(f.rttUs, 700);
  assert.equal(f.firstUs, 1_000);
  assert.equal(f.lastUs, 4_200);
  assert.equal(f.iatSum, 3_200);
  assert.equal(f.iatMin, 100);
  assert.equal(f.iatMax, 1_000);
  assert.equal(f.fwd.tcpFlags, TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.PSH | TCP_FLAG.FIN);
});

test("a FIN that is never acknowledged keeps the flow open; RST closes it", () => {
  const out: FlowExport[] = [];
  const t = new FlowTable((f) => out.push(f), { closeLingerUs: 1_000, idleTimeoutUs: 10_000_000 });
  t.add(pkt(0, A, 1, B, 2, { flags: TCP_FLAG.FIN | TCP_FLAG.ACK, seq: 5 }));
  t.add(pkt(10, B, 2, A, 1, { flags: TCP_FLAG.FIN | TCP_FLAG.ACK, seq: 9, ack: 6 }));
  t.add(pkt(5_000, B, 2, A, 1, { flags: TCP_FLAG.FIN | TCP_FLAG.ACK, seq: 9, ack: 6 }));
  assert.equal(out.length, 0);
  t.add(pkt(6_000, A, 1, B, 2, { flags: TCP_FLAG.RST, seq: 6 }));
  t.expire(8_000);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.endReason, "rst");
  assert.equal(out[0]!.fwd.packets + out[0]!.rev.packets, 4);
});

test("idle and active timeouts, LRU eviction and shutdown", () => {
  const out: FlowExport[] = [];
  const t = new FlowTable((f) => out.push(f), { idleTimeoutUs: 1_000, activeTimeoutUs: 5_000, maxFlows: 2 });
  t.add(pkt(0, A, 1, B, 53, { proto: 17 }));
  t.add(pkt(100, A, 2, B, 53, { proto: 17 }));
  t.add(pkt(200, A, 1, B, 53, { proto: 17 }));
  // A third flow evicts the least recently seen (port 2), not the oldest.
  t.add(pkt(300, A, 3, B, 53, { proto: 17 }));
  assert.deepEqual(out.map((f) => [f.initiatorPort, f.endReason]), [[2, "evicted"]]);
  t.expire(1_250);
  assert.deepEqual(out.slice(1).map((f) => [f.initiatorPort, f.endReason]), [[1, "idle_timeout"]]);
  // A busy flow is cut at the active timeout and continues in a new record.
  for (let ts = 2_000; ts <= 9_000; ts += 500) t.add(pkt(ts, A, 4, B, 53, { proto: 17 }));
  const active = out.filter((f) => f.initiatorPort === 4);
  assert.equal(active.length, 1);
  assert.equal(active[0]!.endReason, "active_timeout");
  assert.ok(t.size <= 2);
  t.flush();
  assert.deepEqual(out.filter((f) => f.endReason === "shutdown").map((f) => f.initiatorPort).sort(), [3, 4]);
  assert.equal(t.size, 0);
});

test("memory stays bounded under a flood of distinct 5-tuples", () => {
  let exported = 0;
  const t = new FlowTable(() => exported++, { maxFlows: 1_000 });
  for (let i = 0; i < 50_000; i++) t.add(pkt(i, `198.18.${(i >> 8) & 255}.${i & 255}`, 1024 + (i % 50_000), B, 80, { flags: TCP_FLAG.SYN }));
  assert.equal(t.size, 1_000);
  assert.equal(exported, 49_000);
});
