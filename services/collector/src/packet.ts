// Decodes one captured frame (link layer, VLAN tags, IPv4/IPv6 with options and extension headers, UDP/TCP)
// into a flat view; malformed input is returned as a counted error kind, never thrown.

/** Link types this decoder reads (the pcap LINKTYPE_* numbers). */
export const LINK = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export type DecodeErrorKind =
  | "link_truncated"
  | "link_unsupported"
  | "vlan_too_deep"
  | "ip_truncated"
  | "ip_bad_header"
  | "ip6_ext_truncated"
  | "ip6_ext_too_many"
  | "udp_truncated"
  | "udp_bad_length"
  | "tcp_truncated"
  | "tcp_bad_offset";

/** Frames that are not errors but carry nothing this pipeline reads (ARP, LLDP, ...). */
export type DecodeSkipKind = "non_ip" | "ip_fragment";

export interface DecodeStats {
  decoded: number;
  errors: Record<DecodeErrorKind, number>;
  skipped: Record<DecodeSkipKind, number>;
}

export function newDecodeStats(): DecodeStats {
  return {
    decoded: 0,
    errors: {
      link_truncated: 0,
      link_unsupported: 0,
      vlan_too_deep: 0,
      ip_truncated: 0,
      ip_bad_header: 0,
      ip6_ext_truncated: 0,
      ip6_ext_too_many: 0,
      udp_truncated: 0,
      udp_bad_length: 0,
      tcp_truncated: 0,
      tcp_bad_offset: 0,
    },
    skipped: { non_ip: 0, ip_fragment: 0 },
  };
}

export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

export interface TcpHeader {
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
}

/** A decoded IP packet. Addresses are in canonical text form (RFC 5952 for IPv6). */
export interface DecodedPacket {
  readonly tsUs: number;
  /** Captured frame length (what the link layer handed over). */
  readonly frameLen: number;
  /** Original frame length on the wire. */
  readonly wireLen: number;
  readonly srcMac: string | null;
  readonly dstMac: string | null;
  /** VLAN ids outermost first. */
  readonly vlans: number[];
  readonly ipVersion: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly ttl: number;
  /** The IP total length from the header (IPv4 total length, IPv6 40 + payload length). */
  readonly ipLen: number;
  /** True for the first fragment of a fragmented datagram (its L4 payload is incomplete). */
  readonly firstFragment: boolean;
  /** 0 when the protocol has no ports (or for non-first fragments). */
  readonly srcPort: number;
  readonly dstPort: number;
  readonly tcp: TcpHeader | null;
  /** The L4 payload actually captured (may be shorter than `payloadLen` when truncated by snap length). */
  readonly payload: Buffer;
  /** The L4 payload length the headers declare. */
  readonly payloadLen: number;
  /** True for a non-first fragment: counted in its flow, no L4 parsed. */
  readonly laterFragment: boolean;
}

export type DecodeResult = DecodedPacket | DecodeErrorKind | DecodeSkipKind;

// QinQ (and MPLS label) stacks deeper than this are not seen in practice; the bound keeps the walk finite on junk.
const MAX_VLAN_TAGS = 4;
// RFC 8200 puts no limit on the extension chain; real traffic has a few at most.
const MAX_IP6_EXT = 8;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function mac(b: Buffer, off: number): string {
  return `${HEX[b[off]!]}:${HEX[b[off + 1]!]}:${HEX[b[off + 2]!]}:${HEX[b[off + 3]!]}:${HEX[b[off + 4]!]}:${HEX[b[off + 5]!]}`;
}

export function ipv4Text(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text: lowercase, leading zeros dropped, the longest run (>1) of zero groups as "::". */
export function ipv6Text(b: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(off + i * 2));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  // An IPv4-mapped address keeps its dotted tail, as every tool prints it.
  if (bestAt === 0 && bestLen === 5 && g[5] === 0xffff) return `::ffff:${ipv4Text(b, off + 12)}`;
  if (bestAt < 0) return g.map((x) => x.toString(16)).join(":");
  const head = g.slice(0, bestAt).map((x) => x.toString(16)).join(":");
  const tail = g.slice(bestAt + bestLen).map((x) => x.toString(16)).join(":");
  return `${head}::${tail}`;
}

/** Decodes one frame; returns the packet, or the kind of error/skip to count. */
export function decodePacket(linkType: number, data: Buffer, tsUs: number, wireLen: number, stats?: DecodeStats): DecodeResult {
  const r = decode(linkType, data, tsUs, wireLen);
  if (stats) {
    if (typeof r !== "string") stats.decoded++;
    else if (r in stats.errors) stats.errors[r as DecodeErrorKind]++;
    else stats.skipped[r as DecodeSkipKind]++;
  }
  return r;
}

function decode(linkType: number, b: Buffer, tsUs: number, wireLen: number): DecodeResult {
  let off = 0;
  let etherType = 0;
  let srcMac: string | null = null;
  let dstMac: string | null = null;
  const vlans: number[] = [];
  switch (linkType) {
    case LINK.ETHERNET: {
      if (b.length < 14) return "link_truncated";
      dstMac = mac(b, 0);
      srcMac = mac(b, 6);
      etherType = b.readUInt16BE(12);
      off = 14;
      break;
    }
    case LINK.NULL:
    case LINK.LOOP: {
      if (b.length < 4) return "link_truncated";
      // DLT_NULL stores the address family in the capturing host's byte order; the value is small, so
      // whichever reading is below 256 is the right one.
      const le = b.readUInt32LE(0);
      const family = linkType === LINK.LOOP ? b.readUInt32BE(0) : le < 256 ? le : b.readUInt32BE(0);
      off = 4;
      // AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux).
      if (family === 2) etherType = 0x0800;
      else if (family === 24 || family === 28 || family === 30 || family === 10) etherType = 0x86dd;
      else return "non_ip";
      break;
    }
    case LINK.RAW:
    case 12:
    case 14: {
      if (b.length < 1) return "link_truncated";
      etherType = b[0]! >> 4 === 6 ? 0x86dd : 0x0800;
      break;
    }
    case LINK.IPV4:
      etherType = 0x0800;
      break;
    case LINK.IPV6:
      etherType = 0x86dd;
      break;
    case LINK.LINUX_SLL: {
      if (b.length < 16) return "link_truncated";
      if (b.readUInt16BE(4) === 6) srcMac = mac(b, 6);
      etherType = b.readUInt16BE(14);
      off = 16;
      break;
    }
    case LINK.LINUX_SLL2: {
      if (b.length < 20) return "link_truncated";
      etherType = b.readUInt16BE(0);
      if (b[11] === 6) srcMac = mac(b, 12);
      off = 20;
      break;
    }
    default:
      return "link_unsupported";
  }
  // 802.1Q (0x8100), 802.1ad (0x88a8) and the pre-standard QinQ 0x9100 tags.
  while (etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) {
    if (vlans.length >= MAX_VLAN_TAGS) return "vlan_too_deep";
    if (b.length < off + 4) return "link_truncated";
    vlans.push(b.readUInt16BE(off) & 0x0fff);
    etherType = b.readUInt16BE(off + 2);
    off += 4;
  }
  if (etherType === 0x8864) {
    // PPPoE session: ver/type, code, session id, length (6 bytes), then the PPP protocol (2 bytes).
    if (b.length < off + 8) return "link_truncated";
    const ppp = b.readUInt16BE(off + 6);
    off += 8;
    if (ppp === 0x0021) etherType = 0x0800;
    else if (ppp === 0x0057) etherType = 0x86dd;
    else return "non_ip";
  } else if (etherType === 0x8847 || etherType === 0x8848) {
    // MPLS: labels until the bottom-of-stack bit; the payload's version nibble says IPv4 or IPv6.
    for (let n = 0; ; n++) {
      if (n >= MAX_VLAN_TAGS || b.length < off + 4) return "link_truncated";
      const bottom = (b[off + 2]! & 1) === 1;
      off += 4;
      if (bottom) break;
    }
    if (b.length < off + 1) return "link_truncated";
    etherType = b[off]! >> 4 === 6 ? 0x86dd : 0x0800;
  }
  if (etherType === 0x0800) return decodeIpv4(b, off, tsUs, wireLen, srcMac, dstMac, vlans);
  if (etherType === 0x86dd) return decodeIpv6(b, off, tsUs, wireLen, srcMac, dstMac, vlans);
  return "non_ip";
}

function decodeIpv4(
  b: Buffer,
  off: number,
  tsUs: number,
  wireLen: number,
  srcMac: string | null,
  dstMac: string | null,
  vlans: number[],
): DecodeResult {
  if (b.length < off + 20) return "ip_truncated";
  const vihl = b[off]!;
  if (vihl >> 4 !== 4) return "ip_bad_header";
  const ihl = (vihl & 0x0f) * 4;
  const totalLen = b.readUInt16BE(off + 2);
  if (ihl < 20 || totalLen < ihl) return "ip_bad_header";
  if (b.length < off + ihl) return "ip_truncated";
  const fragField = b.readUInt16BE(off + 6);
  const moreFragments = (fragField & 0x2000) !== 0;
  const fragOffset = fragField & 0x1fff;
  const proto = b[off + 9]!;
  const pkt = newPacket(tsUs, b.length, wireLen, srcMac, dstMac, vlans, 4, ipv4Text(b, off + 12), ipv4Text(b, off + 16), proto, b[off + 8]!, totalLen);
  pkt.firstFragment = moreFragments && fragOffset === 0;
  // Ethernet pads short frames: the IP total length, not the frame, bounds the payload.
  const l4End = Math.min(b.length, off + totalLen);
  return decodeL4(pkt, b, off + ihl, l4End, off + totalLen, fragOffset !== 0);
}

function decodeIpv6(
  b: Buffer,
  off: number,
  tsUs: number,
  wireLen: number,
  srcMac: string | null,
  dstMac: string | null,
  vlans: number[],
): DecodeResult {
  if (b.length < off + 40) return "ip_truncated";
  if (b[off]! >> 4 !== 6) return "ip_bad_header";
  const payloadLen = b.readUInt16BE(off + 4);
  let next = b[off + 6]!;
  const declaredEnd = off + 40 + payloadLen;
  const end = Math.min(b.length, declaredEnd);
  let p = off + 40;
  let laterFragment = false;
  let firstFragment = false;
  for (let n = 0; ; n++) {
    // Hop-by-hop, routing, destination options, mobility, HIP, shim6: generic (len+1)*8 headers.
    if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
      if (n >= MAX_IP6_EXT) return "ip6_ext_too_many";
      if (end < p + 8) return "ip6_ext_truncated";
      const len = (b[p + 1]! + 1) * 8;
      next = b[p]!;
      p += len;
    } else if (next === 44) {
      if (n >= MAX_IP6_EXT) return "ip6_ext_too_many";
      if (end < p + 8) return "ip6_ext_truncated";
      const fo = b.readUInt16BE(p + 2);
      laterFragment = fo >> 3 !== 0;
      firstFragment = !laterFragment && (fo & 1) === 1;
      next = b[p]!;
      p += 8;
    } else if (next === 51) {
      if (n >= MAX_IP6_EXT) return "ip6_ext_too_many";
      if (end < p + 8) return "ip6_ext_truncated";
      const len = (b[p + 1]! + 2) * 4;
      next = b[p]!;
      p += len;
    } else break;
    if (p > end) return "ip6_ext_truncated";
  }
  const pkt = newPacket(tsUs, b.length, wireLen, srcMac, dstMac, vlans, 6, ipv6Text(b, off + 8), ipv6Text(b, off + 24), next, b[off + 7]!, 40 + payloadLen);
  pkt.firstFragment = firstFragment;
  return decodeL4(pkt, b, p, end, declaredEnd, laterFragment);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const EMPTY = Buffer.alloc(0);

/** One object literal of a fixed shape per packet keeps the hot path monomorphic (no spreads, no copies). */
function newPacket(
  tsUs: number,
  frameLen: number,
  wireLen: number,
  srcMac: string | null,
  dstMac: string | null,
  vlans: number[],
  ipVersion: 4 | 6,
  src: string,
  dst: string,
  proto: number,
  ttl: number,
  ipLen: number,
): Mutable<DecodedPacket> {
  return {
    tsUs,
    frameLen,
    wireLen,
    srcMac,
    dstMac,
    vlans,
    ipVersion,
    src,
    dst,
    proto,
    ttl,
    ipLen,
    firstFragment: false,
    srcPort: 0,
    dstPort: 0,
    tcp: null,
    payload: EMPTY,
    payloadLen: 0,
    laterFragment: false,
  };
}

function decodeL4(pkt: Mutable<DecodedPacket>, b: Buffer, p: number, end: number, declaredEnd: number, laterFragment: boolean): DecodeResult {
  if (laterFragment) {
    pkt.laterFragment = true;
    return pkt;
  }
  if (pkt.proto === 17) {
    if (end < p + 8) return pkt.firstFragment ? "ip_fragment" : "udp_truncated";
    const udpLen = b.readUInt16BE(p + 4);
    // A UDP length below the header size is malformed; one above what IP carries is a truncated or lying
    // header. A UDP length that is smaller than the IP payload is trusted (tcpdump's zlip captures).
    if (udpLen < 8 && !pkt.firstFragment) return "udp_bad_length";
    const declared = Math.max(0, pkt.firstFragment ? declaredEnd - p - 8 : Math.min(udpLen, declaredEnd - p) - 8);
    pkt.srcPort = b.readUInt16BE(p);
    pkt.dstPort = b.readUInt16BE(p + 2);
    pkt.payload = b.subarray(p + 8, Math.min(end, p + 8 + declared));
    pkt.payloadLen = declared;
    return pkt;
  }
  if (pkt.proto === 6) {
    if (end < p + 20) return pkt.firstFragment ? "ip_fragment" : "tcp_truncated";
    const dataOff = (b[p + 12]! >> 4) * 4;
    if (dataOff < 20) return "tcp_bad_offset";
    if (end < p + dataOff) return "tcp_truncated";
    pkt.srcPort = b.readUInt16BE(p);
    pkt.dstPort = b.readUInt16BE(p + 2);
    // The NS bit (lowest bit of byte 12) is ignored: nothing downstream reads it.
    pkt.tcp = { seq: b.readUInt32BE(p + 4), ack: b.readUInt32BE(p + 8), flags: b[p + 13]!, window: b.readUInt16BE(p + 14) };
    pkt.payload = b.subarray(p + dataOff, end);
    pkt.payloadLen = Math.max(0, declaredEnd - p - dataOff);
    return pkt;
  }
  pkt.payload = b.subarray(Math.min(p, end), end);
  pkt.payloadLen = Math.max(0, declaredEnd - p);
  return pkt;
}
