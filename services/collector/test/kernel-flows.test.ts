// Flows from the kernel's flow tables: a TCP conversation run through the XDP program is exported with
// pcap mode's counters and identity once it closed and lingered (fin), a reset one as rst, a quiet one at
// the idle timeout, a long one at the active timeout, the rest at shutdown; exported flows leave the map.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import type { FlowRecord } from "../../../lib/src/avro.js";
import { buildPacket, type PacketSpec } from "../../../test/kernel/packets.js";
import { KernelClock, monotonicNowNs } from "../src/kernel-clock.js";
import { KernelFlowExporter } from "../src/kernel-flows.js";
import { Observer, type Observation } from "../src/observer.js";
import { flowRecord } from "../src/records.js";
import { KernelHarness } from "./xdp-harness.js";

const S = 1_000_000_000n;
const CLIENT = "198.18.3.10";
const SERVER = "198.18.3.80";

let h: KernelHarness;
let flows: KernelFlowExporter;
before(() => {
  h = KernelHarness.open();
  flows = new KernelFlowExporter([h.kernel.map("stoq_flows4"), h.kernel.map("stoq_flows6")], new KernelClock(), "node-f", {
    activeNs: 60n * S,
    idleNs: 30n * S,
    closeLingerNs: 5n * S,
  });
});
beforeEach(() => {
  flows.flush();
});
after(async () => {
  await h?.close();
});

function tcp(fromClient: boolean, sport: number, flags: string, seq: number, ack: number, payload = 0): Buffer {
  const spec: PacketSpec = {
    ipv4: fromClient ? { src: CLIENT, dst: SERVER } : { src: SERVER, dst: CLIENT },
    tcp: fromClient ? { sport, dport: 80, flags, seq, ack } : { sport: 80, dport: sport, flags, seq, ack },
    ...(payload > 0 ? { payloadHex: "ab".repeat(payload) } : {}),
  };
  return buildPacket(spec);
}

function conversation(sport: number, close: "fin" | "rst"): Buffer[] {
  const c = 1000;
  const s = 5000;
  const frames = [
    tcp(true, sport, "S", c, 0),
    tcp(false, sport, "SA", s, c + 1),
    tcp(true, sport, "A", c + 1, s + 1),
    tcp(true, sport, "PA", c + 1, s + 1, 100),
    tcp(false, sport, "PA", s + 1, c + 101, 200),
  ];
  if (close === "rst") return [...frames, tcp(true, sport, "R", c + 101, 0)];
  return [...frames, tcp(true, sport, "FA", c + 101, s + 201), tcp(false, sport, "FA", s + 201, c + 102), tcp(true, sport, "A", c + 102, s + 202)];
}

function pcapFlows(frames: readonly Buffer[]): FlowRecord[] {
  const seen: Observation[] = [];
  const o = new Observer((x) => seen.push(x));
  frames.forEach((data, i) => o.capture({ tsUs: 1_700_000_000_000_000 + i, linkType: 1, data, origLen: data.length, interfaceId: 0 }));
  o.flush();
  return seen.flatMap((x) => (x.kind === "flow" ? [flowRecord(x.flow, "node-f").value] : []));
}

const IDENTITY = ["protocol", "ip_version", "src_addr", "dst_addr", "src_port", "dst_port", "packets_fwd", "packets_rev", "bytes_fwd", "bytes_rev", "size_sum", "size_sumsq", "tcp_flags_fwd", "tcp_flags_rev", "retransmissions", "community_id", "end_reason"] as const;
const pick = (f: FlowRecord): Partial<FlowRecord> => Object.fromEntries(IDENTITY.map((k) => [k, f[k]]));

test("a closed TCP conversation is exported after the linger with pcap mode's counters, and leaves the map", () => {
  const frames = conversation(43000, "fin");
  h.run(frames);
  const now = monotonicNowNs();
  assert.deepEqual(flows.scan(now), [], "still lingering for its last ACKs");
  const [f, ...rest] = flows.scan(now + 6n * S);
  assert.equal(rest.length, 0);
  assert.equal(f!.key, CLIENT);
  assert.deepEqual(pick(f!.value), pick(pcapFlows(frames)[0]!));
  assert.equal(f!.value.end_reason, "fin");
  assert.equal(f!.value.syn_count, 2);
  assert.equal(f!.value.iat_sum_us, f!.value.last_seen_us - f!.value.first_seen_us);
  assert.ok(Math.abs(f!.value.first_seen_us - Date.now() * 1000) < 5_000_000);
  assert.equal([...h.kernel.map("stoq_flows4").keys()].length, 0);
});

test("a reset conversation ends as rst, with pcap mode's counters", () => {
  const frames = conversation(43001, "rst");
  h.run(frames);
  const [f] = flows.scan(monotonicNowNs() + 6n * S);
  assert.deepEqual(pick(f!.value), pick(pcapFlows(frames)[0]!));
  assert.equal(f!.value.end_reason, "rst");
});

test("idle and active timeouts, one-way inter-arrival statistics, and shutdown for the rest", () => {
  const udp = (sport: number): Buffer => buildPacket({ ipv4: { src: CLIENT, dst: SERVER }, udp: { sport, dport: 123 }, payloadHex: "00".repeat(48) });
  h.run([udp(44000), udp(44000), udp(44000)]);
  const start = monotonicNowNs();
  h.run([tcp(true, 44001, "S", 1, 0), tcp(false, 44001, "SA", 9, 2)]);
  assert.deepEqual(flows.scan(start + 10n * S), []);
  const idle = flows.scan(start + 31n * S);
  assert.deepEqual(idle.map((r) => [r.value.protocol, r.value.end_reason]).sort(), [[17, "idle_timeout"], [6, "idle_timeout"]].sort());
  const u = idle.find((r) => r.value.protocol === 17)!.value;
  assert.equal(u.packets_fwd, 3);
  assert.equal(u.packets_rev, 0);
  assert.ok(u.iat_min_us !== null && u.iat_max_us !== null && u.iat_min_us <= u.iat_max_us);
  assert.ok(Math.abs(u.iat_sum_us - (u.last_seen_us - u.first_seen_us)) <= 1);

  // A flow younger than the idle timeout but older than the active one is cut at the active timeout.
  h.run([tcp(true, 44003, "S", 1, 0), tcp(false, 44003, "SA", 9, 2)]);
  const exporter = new KernelFlowExporter([h.kernel.map("stoq_flows4")], new KernelClock(), "node-f", { activeNs: 1n * S, idleNs: 30n * S, closeLingerNs: 5n * S });
  assert.deepEqual(exporter.scan(monotonicNowNs() + 2n * S).map((r) => r.value.end_reason), ["active_timeout"]);

  h.run([tcp(true, 44004, "S", 1, 0), tcp(false, 44004, "SA", 9, 2)]);
  assert.deepEqual(flows.flush().map((r) => r.value.end_reason), ["shutdown"]);
  assert.equal(flows.stats.exported.idle_timeout, 2);
});
