// Exports flows from the kernel's flow tables (stoq_flows4/6) as FlowRecords: a periodic scan ends the
// flows whose idle or active timeout passed, or that closed (FIN both ways, RST) and lingered, deletes
// them from the map, and a final flush exports the rest at shutdown.
//
// What the kernel keeps differs from the user-space flow table (flow-table.ts) in three ways, and the
// records say so rather than guess:
//   - inter-arrival statistics are per direction. The flow-wide sum is exact (last - first); for a flow
//     with packets in one direction only, the sum of squares, min and max are exact too. For a two-way
//     flow the sum of squares is estimated with the per-direction coefficient of variation, and min/max
//     are null (consumers fall back to the mean).
//   - SYN/FIN/RST are ORed flags per direction, not counts: the counts are the directions that sent each.
//   - zero windows and the handshake RTT are not measured in the kernel: 0 and null.
// A flow's first packet enters the table only when a second follows within 4 s (the kernel's admission
// filter), so one-packet flows are never exported.
import type { FlowRecord } from "../../../lib/src/avro.js";
import type { BpfMap } from "./bpf.js";
import { communityId } from "./community-id.js";
import type { FlowEndReason } from "./flow-table.js";
import type { KernelClock } from "./kernel-clock.js";
import { decodeFlow, type Flow, type FlowDirection } from "./kernel-layout.js";
import type { Keyed } from "./records.js";

const TCP = 6;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
/** 2^64 - 1: the kernel's "no gap yet" for iat_min_ns. */
const NO_GAP = 0xffffffffffffffffn;
/** iat_sq is kept in (ns >> 10)^2 units. */
const IAT_SQ_UNIT_US2 = (1024 / 1000) ** 2;

export interface FlowTimeouts {
  readonly activeNs: bigint;
  readonly idleNs: bigint;
  /** How long a closed TCP flow waits for its last ACKs before export (as flow-table.ts). */
  readonly closeLingerNs: bigint;
}

export const DEFAULT_CLOSE_LINGER_NS = 5_000_000_000n;

export interface FlowExportStats {
  scans: number;
  exported: Record<FlowEndReason, number>;
}

/** "fin" when both directions sent FIN, "rst" when either sent RST, else null (TCP only). */
export function closeReason(f: Flow): "fin" | "rst" | null {
  if (f.proto !== TCP) return null;
  const [a, b] = f.dir;
  if ((a.tcpFlags | b.tcpFlags) & RST) return "rst";
  if (a.tcpFlags & b.tcpFlags & FIN) return "fin";
  return null;
}

/** Why the flow ends at kernel time nowNs, or null while it lives on. */
export function endReason(f: Flow, nowNs: bigint, t: FlowTimeouts): FlowEndReason | null {
  const closed = closeReason(f);
  const idle = nowNs - f.lastNs;
  if (closed !== null && idle >= t.closeLingerNs) return closed;
  if (idle >= t.idleNs) return "idle_timeout";
  if (nowNs - f.firstNs >= t.activeNs) return "active_timeout";
  return null;
}

function iatUs(d: FlowDirection): { n: number; sum: number; sumSq: number; min: number; max: number } {
  const n = Number(d.packets) - 1;
  return {
    n: Math.max(0, n),
    sum: Number(d.iatSumNs) / 1000,
    sumSq: Number(d.iatSq) * IAT_SQ_UNIT_US2,
    min: d.iatMinNs === NO_GAP ? 0 : Number(d.iatMinNs) / 1000,
    max: Number(d.iatMaxNs) / 1000,
  };
}

const flagDirs = (fwd: FlowDirection, rev: FlowDirection, flag: number): number => ((fwd.tcpFlags & flag) !== 0 ? 1 : 0) + ((rev.tcpFlags & flag) !== 0 ? 1 : 0);

/** The FlowRecord of a kernel flow entry, keyed by its initiator as in pcap mode. */
export function kernelFlowRecord(f: Flow, reason: FlowEndReason, clock: KernelClock, node: string): Keyed<FlowRecord> {
  const initA = f.initiator === 0;
  const fwd = f.dir[f.initiator];
  const rev = f.dir[f.initiator === 0 ? 1 : 0];
  const src = initA ? f.addrA : f.addrB;
  const dst = initA ? f.addrB : f.addrA;
  const srcPort = initA ? f.portA : f.portB;
  const dstPort = initA ? f.portB : f.portA;
  const firstUs = clock.wallUs(f.firstNs);
  const lastUs = clock.wallUs(f.lastNs);
  const packets = Number(fwd.packets + rev.packets);
  const iatSum = Math.max(0, lastUs - firstUs);
  let iatSumSq = 0;
  let iatMin: number | null = null;
  let iatMax: number | null = null;
  if (packets >= 2) {
    const one = rev.packets === 0n ? fwd : fwd.packets === 0n ? rev : null;
    if (one !== null) {
      const d = iatUs(one);
      iatSumSq = d.sumSq;
      iatMin = Math.round(d.min);
      iatMax = Math.round(d.max);
    } else {
      const a = iatUs(fwd);
      const b = iatUs(rev);
      const n = a.n + b.n;
      const mean = a.sum + b.sum > 0 && n > 0 ? (a.sum + b.sum) / n : 0;
      // E[g^2] / E[g]^2 of the per-direction gaps, carried over to the flow's packets - 1 gaps.
      const ratio = mean > 0 ? (a.sumSq + b.sumSq) / n / (mean * mean) : 1;
      const flowMean = iatSum / (packets - 1);
      iatSumSq = (packets - 1) * flowMean * flowMean * ratio;
    }
  }
  const value: FlowRecord = {
    node,
    ip_version: f.family,
    protocol: f.proto,
    src_addr: src,
    dst_addr: dst,
    src_port: srcPort,
    dst_port: dstPort,
    first_seen_us: firstUs,
    last_seen_us: lastUs,
    packets_fwd: Number(fwd.packets),
    packets_rev: Number(rev.packets),
    bytes_fwd: Number(fwd.bytes),
    bytes_rev: Number(rev.bytes),
    size_sum: Number(fwd.bytes + rev.bytes),
    size_sumsq: Number(fwd.bytesSq + rev.bytesSq),
    iat_sum_us: iatSum,
    iat_sumsq_us2: iatSumSq,
    iat_min_us: iatMin,
    iat_max_us: iatMax,
    tcp_flags_fwd: fwd.tcpFlags,
    tcp_flags_rev: rev.tcpFlags,
    syn_count: flagDirs(fwd, rev, SYN),
    fin_count: flagDirs(fwd, rev, FIN),
    rst_count: flagDirs(fwd, rev, RST),
    retransmissions: fwd.retrans + rev.retrans,
    zero_window_count: 0,
    rtt_us: null,
    end_reason: reason,
    community_id: communityId(f.proto, src, srcPort, dst, dstPort),
  };
  return { key: src, value };
}

export class KernelFlowExporter {
  readonly stats: FlowExportStats = {
    scans: 0,
    exported: { active_timeout: 0, idle_timeout: 0, fin: 0, rst: 0, evicted: 0, shutdown: 0 },
  };

  constructor(
    private readonly maps: readonly BpfMap[],
    private readonly clock: KernelClock,
    private readonly node: string,
    private readonly timeouts: FlowTimeouts,
  ) {}

  /**
   * Ends the flows due at kernel time nowNs. The decision is made on one batch snapshot; each ending
   * flow is then read again just before its delete, so packets counted meanwhile are in the record, and a
   * flow they revived lives on (a packet between that read and the delete is lost, and the next ones
   * start a new entry). A flow gone
   * from the map by then was evicted by the LRU and is exported from the snapshot as "evicted".
   */
  scan(nowNs: bigint): Keyed<FlowRecord>[] {
    this.stats.scans++;
    const out: Keyed<FlowRecord>[] = [];
    for (const map of this.maps) {
      const { keys, values } = map.lookupBatch();
      for (let i = 0; i < keys.length; i++) {
        const snapshot = decodeFlow(keys[i]!, values[i]!);
        const reason = endReason(snapshot, nowNs, this.timeouts);
        if (reason === null) continue;
        const fresh = map.lookup(keys[i]!);
        if (fresh === null) {
          out.push(this.#record(snapshot, "evicted"));
          continue;
        }
        const f = decodeFlow(keys[i]!, fresh);
        const now = endReason(f, nowNs, this.timeouts);
        if (now === null) continue;
        map.delete(keys[i]!);
        out.push(this.#record(f, now));
      }
    }
    return out;
  }

  /** Exports and deletes every remaining flow: closed ones with their close reason, the rest as shutdown. */
  flush(): Keyed<FlowRecord>[] {
    const out: Keyed<FlowRecord>[] = [];
    for (const map of this.maps) {
      const { keys, values } = map.lookupBatch();
      for (let i = 0; i < keys.length; i++) {
        const f = decodeFlow(keys[i]!, values[i]!);
        map.delete(keys[i]!);
        out.push(this.#record(f, closeReason(f) ?? "shutdown"));
      }
    }
    return out;
  }

  #record(f: Flow, reason: FlowEndReason): Keyed<FlowRecord> {
    this.stats.exported[reason]++;
    return kernelFlowRecord(f, reason, this.clock, this.node);
  }
}
