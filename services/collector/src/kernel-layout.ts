// The TypeScript mirror of bpf/stoq_shared.h: every struct that crosses the kernel/user boundary (map keys
// and values, ring-buffer events), the stats counter names, and decoders/encoders for their bytes.
// Kept in sync with bpf/stoq_shared.h; test/kernel/layout.test.ts fails when this and the compiled
// object's BTF disagree. The model and control layouts live in lib/src/model/layout.ts.
import type { FieldLayout } from "../../../lib/src/model/layout.js";

export interface StructLayout {
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

export const HOOK = { xdpIngress: 0, tcEgress: 1 } as const;
export const HOOKS = 2;
export const VERDICT = { pass: 0, drop: 1 } as const;
export const FEATURE_SPEC = 1;
export const MAX_IN = 32;

/**
 * The stats counters in enum stoq_stat order: index i of a stoq_stats value is STAT_NAMES[i]. Parse errors
 * (err_*) count at most one per packet; unscored_* exactly one per DNS query that was not scored.
 */
export const STAT_NAMES = [
  "packets",
  "verdict_pass",
  "verdict_drop",
  "non_ip",
  "ipv4",
  "ipv6",
  "dns_query",
  "dns_response",
  "tls_client_hello",
  "tls_sni",
  "tls_segment",
  "scored",
  "threat",
  "shadow_scored",
  "shadow_threat",
  "flow_new",
  "flow_deferred",
  "source_new",
  "source_deferred",
  "model_prepared",
  "event",
  "unscored_no_control",
  "unscored_no_model",
  "unscored_feature_spec",
  "unscored_model_shape",
  "unscored_no_tables",
  "unscored_name",
  "unscored_opcode",
  "unscored_model_changed",
  "err_eth_short",
  "err_vlan_short",
  "err_vlan_depth",
  "err_pppoe_short",
  "err_ipv4_short",
  "err_ipv4_header",
  "err_ipv6_short",
  "err_ipv6_ext_short",
  "err_ipv6_ext_depth",
  "err_fragment",
  "err_udp_short",
  "err_tcp_short",
  "err_tcp_header",
  "err_dns_short",
  "err_dns_name_truncated",
  "err_dns_label",
  "err_dns_name_long",
  "err_dns_pointer",
  "err_tls_split",
  "err_tls_malformed",
  "lost_ringbuf",
  "lost_flow_update",
  "lost_source_update",
] as const;
export type StatName = (typeof STAT_NAMES)[number];
export const STAT = Object.fromEntries(STAT_NAMES.map((n, i) => [n, i])) as Record<StatName, number>;
/** Slots in struct stoq_stats (a power of two); those from STAT_NAMES.length on stay 0. */
export const STAT_SLOTS = 64;

export const EVENT_KIND = { dns: 1, tlsHello: 2, payload: 3, drop: 4 } as const;
export const DNS_FLAG = { response: 0x01, tcp: 0x02, threat: 0x04, shadowThreat: 0x08, shadow: 0x10 } as const;
export const TLS_FLAG = { sni: 0x01, split: 0x02 } as const;
export const PAYLOAD_WHAT = { tlsServer: 1, tlsClient: 2 } as const;
export const DNS_CAPTURE_MAX = 512;
export const SNI_MAX = 255;
export const PAYLOAD_MAX = 1504;
export const BIGRAM_SYMBOLS = 40;

const f = (offset: number, size: number): FieldLayout => ({ offset, size });

/* struct stoq_stats: u64 count[64] */
export const STATS_LAYOUT = { size: 512, fields: { count: f(0, 512) } } as const satisfies StructLayout;

/* struct stoq_flow_key4: 0 addr_a | 4 addr_b | 8 port_a | 10 port_b | 12 proto | 13 _pad[3] */
export const FLOW_KEY4_LAYOUT = {
  size: 16,
  fields: { addr_a: f(0, 4), addr_b: f(4, 4), port_a: f(8, 2), port_b: f(10, 2), proto: f(12, 1), _pad: f(13, 3) },
} as const satisfies StructLayout;

/* struct stoq_flow_key6: 0 addr_a[4] | 16 addr_b[4] | 32 port_a | 34 port_b | 36 proto | 37 _pad[3] */
export const FLOW_KEY6_LAYOUT = {
  size: 40,
  fields: { addr_a: f(0, 16), addr_b: f(16, 16), port_a: f(32, 2), port_b: f(34, 2), proto: f(36, 1), _pad: f(37, 3) },
} as const satisfies StructLayout;

/* struct stoq_flow_dir: eight u64 statistics, then retrans, seq_end, tcp_flags, tls_capture */
export const FLOW_DIR_LAYOUT = {
  size: 80,
  fields: {
    packets: f(0, 8),
    bytes: f(8, 8),
    bytes_sq: f(16, 8),
    last_ns: f(24, 8),
    iat_sum_ns: f(32, 8),
    iat_sq: f(40, 8),
    iat_min_ns: f(48, 8),
    iat_max_ns: f(56, 8),
    retrans: f(64, 4),
    seq_end: f(68, 4),
    tcp_flags: f(72, 1),
    tls_capture: f(73, 1),
    _pad: f(74, 6),
  },
} as const satisfies StructLayout;

/* struct stoq_flow: dir[2] | 160 first_ns | 168 last_ns | 176 initiator | 177 _pad[7] */
export const FLOW_LAYOUT = {
  size: 184,
  fields: { dir: f(0, 160), first_ns: f(160, 8), last_ns: f(168, 8), initiator: f(176, 1), _pad: f(177, 7) },
} as const satisfies StructLayout;

/* struct stoq_source (feature_spec v1 per-source state) */
export const SOURCE_LAYOUT = {
  size: 64,
  fields: {
    win_start_ns: f(0, 8),
    names_cur: f(8, 8),
    names_prev: f(16, 8),
    last_q_ns: f(24, 8),
    q_cur: f(32, 4),
    q_prev: f(36, 4),
    avg_qsize_q4: f(40, 4),
    rt_avg: f(44, 4),
    last_qid: f(48, 2),
    q_total: f(50, 2),
    q_tunnel: f(52, 2),
    q_long: f(54, 2),
    resp_total: f(56, 2),
    resp_nx: f(58, 2),
    _pad: f(60, 4),
  },
} as const satisfies StructLayout;

export const SERVER_KEY_LAYOUT = { size: 16, fields: { addr: f(0, 16) } } as const satisfies StructLayout;
export const SERVER_FACTS_LAYOUT = {
  size: 8,
  fields: { cert_age_hours: f(0, 4), chain_len: f(4, 4) },
} as const satisfies StructLayout;
export const FEATURES_LAYOUT = { size: 128, fields: { f: f(0, 128) } } as const satisfies StructLayout;
export const BIGRAM_LAYOUT = { size: 3200, fields: { q8: f(0, 3200) } } as const satisfies StructLayout;

/* struct stoq_tuple: 0 saddr[4] | 16 daddr[4] | 32 sport | 34 dport | 36 proto | 37 family | 38 _pad[2] */
export const TUPLE_LAYOUT = {
  size: 40,
  fields: { saddr: f(0, 16), daddr: f(16, 16), sport: f(32, 2), dport: f(34, 2), proto: f(36, 1), family: f(37, 1), _pad: f(38, 2) },
} as const satisfies StructLayout;

/* struct stoq_event_header: 0 kind | 2 hook | 3 _pad | 4 ifindex | 8 ts_ns | 16 tuple */
export const EVENT_HEADER_LAYOUT = {
  size: 56,
  fields: { kind: f(0, 2), hook: f(2, 1), _pad: f(3, 1), ifindex: f(4, 4), ts_ns: f(8, 8), tuple: f(16, 40) },
} as const satisfies StructLayout;

export const DNS_EVENT_LAYOUT = {
  size: 760,
  fields: {
    h: f(0, 56),
    model_version: f(56, 8),
    shadow_version: f(64, 8),
    score: f(72, 4),
    shadow_score: f(76, 4),
    unscored: f(80, 4),
    verdict: f(84, 1),
    flags: f(85, 1),
    labels: f(86, 1),
    _pad0: f(87, 1),
    id: f(88, 2),
    hdr_flags: f(90, 2),
    qdcount: f(92, 2),
    ancount: f(94, 2),
    nscount: f(96, 2),
    arcount: f(98, 2),
    qtype: f(100, 2),
    qclass: f(102, 2),
    qname_len: f(104, 2),
    msg_len: f(106, 2),
    captured: f(108, 2),
    ip_len: f(110, 2),
    feature_spec: f(112, 4),
    threshold: f(116, 4),
    features: f(120, 128),
    msg: f(248, DNS_CAPTURE_MAX),
  },
} as const satisfies StructLayout;

export const TLS_HELLO_EVENT_LAYOUT = {
  size: 336,
  fields: {
    h: f(0, 56),
    seq: f(56, 4),
    record_version: f(60, 2),
    hello_version: f(62, 2),
    hello_len: f(64, 2),
    sni_len: f(66, 2),
    flags: f(68, 1),
    _pad: f(69, 7),
    sni: f(76, SNI_MAX + 1),
  },
} as const satisfies StructLayout;

export const PAYLOAD_EVENT_LAYOUT = {
  size: 1576,
  fields: { h: f(0, 56), seq: f(56, 4), len: f(60, 2), captured: f(62, 2), what: f(64, 1), _pad: f(65, 7), data: f(72, PAYLOAD_MAX) },
} as const satisfies StructLayout;

export const DROP_EVENT_LAYOUT = {
  size: 72,
  fields: { h: f(0, 56), model_version: f(56, 8), score: f(64, 4), threshold: f(68, 4) },
} as const satisfies StructLayout;

/** Every mirrored struct by its C name, for the layout test. */
export const KERNEL_LAYOUTS: Readonly<Record<string, StructLayout>> = {
  stoq_stats: STATS_LAYOUT,
  stoq_flow_key4: FLOW_KEY4_LAYOUT,
  stoq_flow_key6: FLOW_KEY6_LAYOUT,
  stoq_flow_dir: FLOW_DIR_LAYOUT,
  stoq_flow: FLOW_LAYOUT,
  stoq_source: SOURCE_LAYOUT,
  stoq_server_key: SERVER_KEY_LAYOUT,
  stoq_server_facts: SERVER_FACTS_LAYOUT,
  stoq_features: FEATURES_LAYOUT,
  stoq_bigram: BIGRAM_LAYOUT,
  stoq_tuple: TUPLE_LAYOUT,
  stoq_event_header: EVENT_HEADER_LAYOUT,
  stoq_dns_event: DNS_EVENT_LAYOUT,
  stoq_tls_hello_event: TLS_HELLO_EVENT_LAYOUT,
  stoq_payload_event: PAYLOAD_EVENT_LAYOUT,
  stoq_drop_event: DROP_EVENT_LAYOUT,
};

// ---- addresses ---------------------------------------------------------------------------------------

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** A 16-byte address field (IPv4-mapped for IPv4) as text: "198.18.0.1" or "2001:db8::1". */
export function formatAddr16(b: Uint8Array): string {
  if (Buffer.compare(b.subarray(0, 12), V4_MAPPED_PREFIX) === 0) return Array.from(b.subarray(12, 16)).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952: the longest run (>= 2) of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** Text address to the 16-byte kernel form (IPv4-mapped for IPv4). */
export function encodeAddr16(addr: string): Buffer {
  const out = Buffer.alloc(16);
  if (addr.includes(".") && !addr.includes(":")) {
    V4_MAPPED_PREFIX.copy(out, 0);
    addr.split(".").forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  const [head, tail] = addr.split("::") as [string, string | undefined];
  const hs = head ? head.split(":") : [];
  const ts = tail ? tail.split(":") : [];
  const groups = [...hs, ...new Array<string>(8 - hs.length - ts.length).fill("0"), ...ts];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

// ---- events ------------------------------------------------------------------------------------------

export interface Tuple {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
  family: 4 | 6;
}

export interface EventHeader {
  kind: number;
  hook: number;
  ifindex: number;
  tsNs: bigint;
  tuple: Tuple;
}

export interface DnsEvent extends EventHeader {
  kind: typeof EVENT_KIND.dns;
  modelVersion: bigint;
  shadowVersion: bigint;
  score: number;
  shadowScore: number;
  /** 0 when scored, else the STAT index of the reason (an unscored_* name). */
  unscored: number;
  verdict: number;
  flags: number;
  labels: number;
  id: number;
  hdrFlags: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
  qtype: number;
  qclass: number;
  /** Wire length of the question name including the root label; 0 when it could not be walked. */
  qnameLen: number;
  msgLen: number;
  featureSpec: number;
  threshold: number;
  features: Int32Array;
  /** The first `captured` bytes of the DNS message. */
  msg: Buffer;
}

export interface TlsHelloEvent extends EventHeader {
  kind: typeof EVENT_KIND.tlsHello;
  seq: number;
  recordVersion: number;
  helloVersion: number;
  helloLen: number;
  flags: number;
  sni: string | null;
}

export interface PayloadEvent extends EventHeader {
  kind: typeof EVENT_KIND.payload;
  seq: number;
  len: number;
  what: number;
  data: Buffer;
}

export interface DropEvent extends EventHeader {
  kind: typeof EVENT_KIND.drop;
  modelVersion: bigint;
  score: number;
  threshold: number;
}

export type KernelEvent = DnsEvent | TlsHelloEvent | PayloadEvent | DropEvent;

function decodeTuple(b: Buffer, at: number): Tuple {
  const T = TUPLE_LAYOUT.fields;
  return {
    saddr: formatAddr16(b.subarray(at + T.saddr.offset, at + T.saddr.offset + 16)),
    daddr: formatAddr16(b.subarray(at + T.daddr.offset, at + T.daddr.offset + 16)),
    sport: b.readUInt16BE(at + T.sport.offset),
    dport: b.readUInt16BE(at + T.dport.offset),
    proto: b[at + T.proto.offset]!,
    family: b[at + T.family.offset] === 6 ? 6 : 4,
  };
}

function decodeHeader(b: Buffer): EventHeader {
  const H = EVENT_HEADER_LAYOUT.fields;
  return {
    kind: b.readUInt16LE(H.kind.offset),
    hook: b[H.hook.offset]!,
    ifindex: b.readUInt32LE(H.ifindex.offset),
    tsNs: b.readBigUInt64LE(H.ts_ns.offset),
    tuple: decodeTuple(b, H.tuple.offset),
  };
}

/** Decodes one ring-buffer record; null for a record too short for its kind (never produced by the kernel). */
export function decodeEvent(b: Buffer): KernelEvent | null {
  if (b.length < EVENT_HEADER_LAYOUT.size) return null;
  const h = decodeHeader(b);
  switch (h.kind) {
    case EVENT_KIND.dns: {
      const D = DNS_EVENT_LAYOUT.fields;
      if (b.length < D.msg.offset) return null;
      const captured = b.readUInt16LE(D.captured.offset);
      const fo = D.features.offset;
      const features = new Int32Array(MAX_IN);
      for (let i = 0; i < MAX_IN; i++) features[i] = b.readInt32LE(fo + 4 * i);
      return {
        ...h,
        kind: EVENT_KIND.dns,
        modelVersion: b.readBigUInt64LE(D.model_version.offset),
        shadowVersion: b.readBigUInt64LE(D.shadow_version.offset),
        score: b.readInt32LE(D.score.offset),
        shadowScore: b.readInt32LE(D.shadow_score.offset),
        unscored: b.readUInt32LE(D.unscored.offset),
        verdict: b[D.verdict.offset]!,
        flags: b[D.flags.offset]!,
        labels: b[D.labels.offset]!,
        id: b.readUInt16LE(D.id.offset),
        hdrFlags: b.readUInt16LE(D.hdr_flags.offset),
        qdcount: b.readUInt16LE(D.qdcount.offset),
        ancount: b.readUInt16LE(D.ancount.offset),
        nscount: b.readUInt16LE(D.nscount.offset),
        arcount: b.readUInt16LE(D.arcount.offset),
        qtype: b.readUInt16LE(D.qtype.offset),
        qclass: b.readUInt16LE(D.qclass.offset),
        qnameLen: b.readUInt16LE(D.qname_len.offset),
        msgLen: b.readUInt16LE(D.msg_len.offset),
        featureSpec: b.readUInt32LE(D.feature_spec.offset),
        threshold: b.readInt32LE(D.threshold.offset),
        features,
        msg: Buffer.from(b.subarray(D.msg.offset, D.msg.offset + Math.min(captured, b.length - D.msg.offset))),
      };
    }
    case EVENT_KIND.tlsHello: {
      const T = TLS_HELLO_EVENT_LAYOUT.fields;
      if (b.length < T.sni.offset) return null;
      const flags = b[T.flags.offset]!;
      const sniLen = b.readUInt16LE(T.sni_len.offset);
      return {
        ...h,
        kind: EVENT_KIND.tlsHello,
        seq: b.readUInt32LE(T.seq.offset),
        recordVersion: b.readUInt16LE(T.record_version.offset),
        helloVersion: b.readUInt16LE(T.hello_version.offset),
        helloLen: b.readUInt16LE(T.hello_len.offset),
        flags,
        sni: flags & TLS_FLAG.sni ? b.subarray(T.sni.offset, T.sni.offset + sniLen).toString("latin1") : null,
      };
    }
    case EVENT_KIND.payload: {
      const P = PAYLOAD_EVENT_LAYOUT.fields;
      if (b.length < P.data.offset) return null;
      const captured = b.readUInt16LE(P.captured.offset);
      return {
        ...h,
        kind: EVENT_KIND.payload,
        seq: b.readUInt32LE(P.seq.offset),
        len: b.readUInt16LE(P.len.offset),
        what: b[P.what.offset]!,
        data: Buffer.from(b.subarray(P.data.offset, P.data.offset + Math.min(captured, b.length - P.data.offset))),
      };
    }
    case EVENT_KIND.drop: {
      const X = DROP_EVENT_LAYOUT.fields;
      if (b.length < DROP_EVENT_LAYOUT.size) return null;
      return {
        ...h,
        kind: EVENT_KIND.drop,
        modelVersion: b.readBigUInt64LE(X.model_version.offset),
        score: b.readInt32LE(X.score.offset),
        threshold: b.readInt32LE(X.threshold.offset),
      };
    }
    default:
      return null;
  }
}

// ---- maps --------------------------------------------------------------------------------------------

/** Sums the per-CPU stoq_stats values of one hook into counters by name. */
export function sumStats(perCpu: readonly Buffer[]): Record<StatName, bigint> {
  const out = Object.fromEntries(STAT_NAMES.map((n) => [n, 0n])) as Record<StatName, bigint>;
  for (const v of perCpu) STAT_NAMES.forEach((n, i) => (out[n] += v.readBigUInt64LE(8 * i)));
  return out;
}

export interface FlowDirection {
  packets: bigint;
  bytes: bigint;
  bytesSq: bigint;
  lastNs: bigint;
  iatSumNs: bigint;
  /** Sum of squared gaps in (ns >> 10)^2 units. */
  iatSq: bigint;
  /** 2^64 - 1 until a gap exists. */
  iatMinNs: bigint;
  iatMaxNs: bigint;
  retrans: number;
  seqEnd: number;
  tcpFlags: number;
  tlsCapture: number;
}

export interface Flow {
  /** Endpoint a is the numerically lower (address, port); dir[0] counts what a sent. */
  addrA: string;
  addrB: string;
  portA: number;
  portB: number;
  proto: number;
  family: 4 | 6;
  dir: [FlowDirection, FlowDirection];
  firstNs: bigint;
  lastNs: bigint;
  initiator: 0 | 1;
}

function decodeFlowDir(v: Buffer, at: number): FlowDirection {
  const D = FLOW_DIR_LAYOUT.fields;
  return {
    packets: v.readBigUInt64LE(at + D.packets.offset),
    bytes: v.readBigUInt64LE(at + D.bytes.offset),
    bytesSq: v.readBigUInt64LE(at + D.bytes_sq.offset),
    lastNs: v.readBigUInt64LE(at + D.last_ns.offset),
    iatSumNs: v.readBigUInt64LE(at + D.iat_sum_ns.offset),
    iatSq: v.readBigUInt64LE(at + D.iat_sq.offset),
    iatMinNs: v.readBigUInt64LE(at + D.iat_min_ns.offset),
    iatMaxNs: v.readBigUInt64LE(at + D.iat_max_ns.offset),
    retrans: v.readUInt32LE(at + D.retrans.offset),
    seqEnd: v.readUInt32LE(at + D.seq_end.offset),
    tcpFlags: v[at + D.tcp_flags.offset]!,
    tlsCapture: v[at + D.tls_capture.offset]!,
  };
}

/** A stoq_flows4 or stoq_flows6 entry (the family follows from the key size). */
export function decodeFlow(key: Buffer, value: Buffer): Flow {
  const v6 = key.length === FLOW_KEY6_LAYOUT.size;
  const K = v6 ? FLOW_KEY6_LAYOUT.fields : FLOW_KEY4_LAYOUT.fields;
  const addr = (o: number, n: number): string =>
    v6 ? formatAddr16(key.subarray(o, o + n)) : Array.from(key.subarray(o, o + n)).join(".");
  const L = FLOW_LAYOUT.fields;
  return {
    addrA: addr(K.addr_a.offset, K.addr_a.size),
    addrB: addr(K.addr_b.offset, K.addr_b.size),
    portA: key.readUInt16BE(K.port_a.offset),
    portB: key.readUInt16BE(K.port_b.offset),
    proto: key[K.proto.offset]!,
    family: v6 ? 6 : 4,
    dir: [decodeFlowDir(value, 0), decodeFlowDir(value, FLOW_DIR_LAYOUT.size)],
    firstNs: value.readBigUInt64LE(L.first_ns.offset),
    lastNs: value.readBigUInt64LE(L.last_ns.offset),
    initiator: value[L.initiator.offset] === 1 ? 1 : 0,
  };
}

/** The stoq_servers key for a server address. */
export function encodeServerKey(addr: string): Buffer {
  return encodeAddr16(addr);
}

/** The stoq_servers value: what the collector knows of the certificate that server last presented. */
export function encodeServerFacts(facts: { certAgeHours: number; chainLen: number }): Buffer {
  const b = Buffer.alloc(SERVER_FACTS_LAYOUT.size);
  b.writeUInt32LE(facts.certAgeHours, SERVER_FACTS_LAYOUT.fields.cert_age_hours.offset);
  b.writeUInt32LE(facts.chainLen, SERVER_FACTS_LAYOUT.fields.chain_len.offset);
  return b;
}
