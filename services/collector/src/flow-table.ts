// Userspace flow table with the kernel path's semantics: bidirectional 5-tuple flows (initiator = sender of
// the first packet), per-direction counters and moments, TCP flags and estimates, and bounded memory with
// active/idle timeouts, FIN/RST close, LRU eviction and a final flush.
import { TCP_FLAG, type DecodedPacket } from "./packet.js";

export type FlowEndReason = "active_timeout" | "idle_timeout" | "fin" | "rst" | "evicted" | "shutdown";

/** Counters for one direction. Sizes are IP lengths (header + payload), the same on every link type. */
export interface DirectionStats {
  packets: number;
  /** Sum of IP total lengths (what Zeek calls ip_bytes). */
  ipBytes: number;
  /** Sum of captured frame lengths including the link header (Suricata, Arkime, nDPI). */
  frameBytes: number;
  /** Sum of L4 payload lengths (Zeek's orig_bytes/resp_bytes without gap accounting). */
  payloadBytes: number;
  sizeSumSq: number;
  tcpFlags: number;
  retransmissions: number;
  zeroWindow: number;
  /** Highest TCP sequence end seen with payload, for the retransmission estimate. */
  seqEnd: number | null;
  /** Sequence number just past this direction's FIN (the value the peer's ACK must reach). */
  finAckNeeded: number | null;
  finAcked: boolean;
}

export interface Flow {
  readonly proto: number;
  readonly initiator: string;
  readonly initiatorPort: number;
  readonly responder: string;
  readonly responderPort: number;
  readonly ipVersion: 4 | 6;
  /** VLAN ids of the first packet, outermost first. */
  readonly vlans: number[];
  readonly initiatorMac: string | null;
  readonly responderMac: string | null;
  firstUs: number;
  lastUs: number;
  fwd: DirectionStats;
  rev: DirectionStats;
  synCount: number;
  finCount: number;
  rstCount: number;
  /** Inter-arrival times between consecutive packets of the flow (both directions), in microseconds. */
  iatSum: number;
  iatSumSq: number;
  iatMin: number;
  iatMax: number;
  /** Handshake RTT: from the initiator's SYN to its ACK of the SYN-ACK, in microseconds. */
  rttUs: number | null;
  synUs: number | null;
  synAckSeen: boolean;
  /** Set once both FINs were acknowledged or a RST was seen: the flow lingers for late ACKs, then ends with this reason. */
  closing: "fin" | "rst" | null;
  /** Monotonic id within this table, for joining application state to the flow. */
  readonly id: number;
}

export interface FlowExport extends Flow {
  readonly endReason: FlowEndReason;
}

export interface FlowTableOptions {
  /** A flow older than this is exported; its next packet starts a new record. */
  activeTimeoutUs: number;
  /** A flow without packets for this long is exported. */
  idleTimeoutUs: number;
  /** How long a closed TCP flow waits for stragglers (the last ACK) before export. */
  closeLingerUs: number;
  /** Bound on live flows; the least recently seen is evicted beyond it. */
  maxFlows: number;
}

export const DEFAULT_FLOW_OPTIONS: FlowTableOptions = {
  activeTimeoutUs: 1_800_000_000,
  idleTimeoutUs: 60_000_000,
  closeLingerUs: 5_000_000,
  maxFlows: 1_000_000,
};

function newDirection(): DirectionStats {
  return {
    packets: 0,
    ipBytes: 0,
    frameBytes: 0,
    payloadBytes: 0,
    sizeSumSq: 0,
    tcpFlags: 0,
    retransmissions: 0,
    zeroWindow: 0,
    seqEnd: null,
    finAckNeeded: null,
    finAcked: false,
  };
}

/** Which way a packet went within its flow. */
export interface FlowHit {
  readonly flow: Flow;
  readonly forward: boolean;
  /** True when this packet created the flow record. */
  readonly created: boolean;
}

export class FlowTable {
  /** Least recently seen first (touch = delete + set). */
  private readonly lru = new Map<string, Flow>();
  /** Oldest record start first, for the active timeout. */
  private readonly byStart = new Map<string, Flow>();
  private nextId = 1;
  private readonly opts: FlowTableOptions;

  constructor(
    private readonly onExport: (f: FlowExport) => void,
    opts: Partial<FlowTableOptions> = {},
  ) {
    this.opts = { ...DEFAULT_FLOW_OPTIONS, ...opts };
    if (this.opts.maxFlows < 1) throw new RangeError("maxFlows must be at least 1");
  }

  get size(): number {
    return this.lru.size;
  }

  /** Accounts one packet; expires what its timestamp makes due first. */
  add(p: DecodedPacket): FlowHit {
    const aFirst = p.src < p.dst || (p.src === p.dst && p.srcPort <= p.dstPort);
    const key = aFirst ? `${p.proto}|${p.src}|${p.srcPort}|${p.dst}|${p.dstPort}` : `${p.proto}|${p.dst}|${p.dstPort}|${p.src}|${p.srcPort}`;
    let flow = this.lru.get(key);
    const flags = p.tcp?.flags ?? 0;
    // A fresh SYN on a closed 5-tuple is a new connection (port reuse), not more of the old one.
    if (flow && flow.closing !== null && (flags & (TCP_FLAG.SYN | TCP_FLAG.ACK)) === TCP_FLAG.SYN) {
      this.end(key, flow, flow.closing);
      flow = undefined;
    }
    let created = false;
    if (flow) {
      if (p.tsUs - flow.lastUs >= (flow.closing ? this.opts.closeLingerUs : this.opts.idleTimeoutUs)) {
        this.end(key, flow, flow.closing ?? "idle_timeout");
        flow = undefined;
      } else if (p.tsUs - flow.firstUs >= this.opts.activeTimeoutUs) {
        this.end(key, flow, "active_timeout");
        flow = undefined;
      }
    }
    if (!flow) {
      if (this.lru.size >= this.opts.maxFlows) {
        const [oldKey, old] = this.lru.entries().next().value as [string, Flow];
        this.end(oldKey, old, "evicted");
      }
      flow = {
        proto: p.proto,
        initiator: p.src,
        initiatorPort: p.srcPort,
        responder: p.dst,
        responderPort: p.dstPort,
        ipVersion: p.ipVersion,
        vlans: p.vlans,
        initiatorMac: p.srcMac,
        responderMac: p.dstMac,
        firstUs: p.tsUs,
        lastUs: p.tsUs,
        fwd: newDirection(),
        rev: newDirection(),
        synCount: 0,
        finCount: 0,
        rstCount: 0,
        iatSum: 0,
        iatSumSq: 0,
        iatMin: 0,
        iatMax: 0,
        rttUs: null,
        synUs: null,
        synAckSeen: false,
        closing: null,
        id: this.nextId++,
      };
      this.byStart.set(key, flow);
      created = true;
    } else {
      this.lru.delete(key);
      const iat = Math.max(0, p.tsUs - flow.lastUs);
      const n = flow.fwd.packets + flow.rev.packets;
      flow.iatSum += iat;
      flow.iatSumSq += iat * iat;
      flow.iatMin = n === 1 ? iat : Math.min(flow.iatMin, iat);
      flow.iatMax = Math.max(flow.iatMax, iat);
    }
    this.lru.set(key, flow);
    const forward = p.src === flow.initiator && p.srcPort === flow.initiatorPort;
    const d = forward ? flow.fwd : flow.rev;
    d.packets++;
    d.ipBytes += p.ipLen;
    d.frameBytes += p.wireLen;
    d.payloadBytes += p.payloadLen;
    d.sizeSumSq += p.ipLen * p.ipLen;
    if (p.tsUs > flow.lastUs) flow.lastUs = p.tsUs;
    const tcp = p.tcp;
    if (tcp) {
      d.tcpFlags |= flags;
      if (flags & TCP_FLAG.SYN) flow.synCount++;
      if (flags & TCP_FLAG.FIN) flow.finCount++;
      if (flags & TCP_FLAG.RST) flow.rstCount++;
      if (tcp.window === 0 && !(flags & (TCP_FLAG.RST | TCP_FLAG.SYN))) d.zeroWindow++;
      if (p.payloadLen > 0) {
        const end = (tcp.seq + p.payloadLen) >>> 0;
        // Payload that ends at or before the highest byte already seen was sent before.
        if (d.seqEnd !== null && ((end - d.seqEnd) | 0) <= 0) d.retransmissions++;
        else d.seqEnd = end;
      }
      if (flow.rttUs === null) {
        const synAck = TCP_FLAG.SYN | TCP_FLAG.ACK;
        if (forward && (flags & synAck) === TCP_FLAG.SYN) flow.synUs ??= p.tsUs;
        else if (!forward && (flags & synAck) === synAck) flow.synAckSeen = true;
        else if (forward && flow.synUs !== null && flow.synAckSeen && flags & TCP_FLAG.ACK) flow.rttUs = p.tsUs - flow.synUs;
      }
      if (flags & TCP_FLAG.FIN) d.finAckNeeded ??= (tcp.seq + p.payloadLen + 1) >>> 0;
      const other = forward ? flow.rev : flow.fwd;
      if (flags & TCP_FLAG.ACK && other.finAckNeeded !== null && ((tcp.ack - other.finAckNeeded) | 0) >= 0) other.finAcked = true;
      // Closed when both FINs are acknowledged (a FIN still being retransmitted keeps the connection open).
      if (flags & TCP_FLAG.RST) flow.closing = "rst";
      else if (flow.closing === null && flow.fwd.finAcked && flow.rev.finAcked) flow.closing = "fin";
    }
    return { flow, forward, created };
  }

  /** Exports every flow whose idle, linger or active timeout has passed at event time `nowUs`. */
  expire(nowUs: number): void {
    for (const [key, f] of this.lru) {
      const limit = f.closing ? this.opts.closeLingerUs : this.opts.idleTimeoutUs;
      if (nowUs - f.lastUs >= limit) this.end(key, f, f.closing ?? "idle_timeout");
      // LRU order: the first flow seen recently enough means all later ones are too, except a lingering
      // closed flow, whose shorter limit is checked when it reaches the front or on its next packet.
      else if (!f.closing) break;
    }
    for (const [key, f] of this.byStart) {
      if (nowUs - f.firstUs < this.opts.activeTimeoutUs) break;
      // A long-lived connection is reported in slices; its next packet opens the next record.
      this.end(key, f, "active_timeout");
    }
  }

  /** Exports every live flow: closed ones with their close reason, the rest as shutdown. */
  flush(): void {
    for (const [key, f] of this.lru) this.end(key, f, f.closing ?? "shutdown");
  }

  private end(key: string, f: Flow, reason: FlowEndReason): void {
    this.lru.delete(key);
    this.byStart.delete(key);
    this.onExport({ ...f, endReason: reason });
  }
}
