// Builds the test frames of the kernel tests from a JSON-able description (the packet fixtures in
// test/fixtures/packets/ are written in it): Ethernet with 802.1Q/802.1ad tags, IPv4 with options and
// fragments, IPv6 with extension headers, UDP, TCP, DNS messages and TLS ClientHellos.
import { encodeAddr16 } from "../../services/collector/src/kernel-layout.js";

export interface EthSpec {
  /** VLAN IDs outermost first; the outer tag of two is 802.1ad (0x88a8) unless `tpid` says otherwise. */
  vlan?: number[];
  tpid?: number[];
  /** EtherType after the tags; default from the IP layer. */
  type?: number;
  /** Carry the IP layer in a PPPoE session (EtherType 0x8864, RFC 2516). */
  pppoe?: boolean;
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  /** IP options as hex (padded to 4 bytes by the builder). */
  options?: string;
  /** Fragment offset in 8-byte units and the more-fragments flag. */
  fragOffset?: number;
  moreFragments?: boolean;
  proto?: number;
  /** Total length as written in the header; default the real length. */
  totalLength?: number;
  /** Header length in 32-bit words as written; default the real one. */
  ihl?: number;
}

export interface Ipv6ExtSpec {
  type: "hop" | "routing" | "dst" | "frag" | "ah";
  /** Bytes of the header (a multiple of 8, of 4 for AH); default the minimum. */
  len?: number;
  fragOffset?: number;
}

export interface Ipv6Spec {
  src: string;
  dst: string;
  ext?: Ipv6ExtSpec[];
  proto?: number;
  payloadLength?: number;
}

export interface UdpSpec {
  sport: number;
  dport: number;
  /** Length as written in the header; default the real length. */
  length?: number;
}

export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** "S", "SA", "A", "PA", "FA", "R" ... */
  flags?: string;
  /** TCP options as hex (padded to 4 bytes). */
  options?: string;
}

export interface DnsSpec {
  id?: number;
  response?: boolean;
  opcode?: number;
  rcode?: number;
  rd?: boolean;
  qname?: string;
  /** The question name in wire form as hex, for names the dotted form cannot express. */
  qnameHex?: string;
  qtype?: number;
  qclass?: number;
  qdcount?: number;
  ancount?: number;
  /** Raw bytes appended after the question (answers, OPT records) as hex. */
  tailHex?: string;
  /** Carried over TCP: prefixed with the 2-byte length. */
  tcpPrefix?: boolean;
}

export interface TlsHelloSpec {
  sni?: string;
  /** Extensions placed before server_name, each of this many bytes (pushes the SNI deeper). */
  padBefore?: number[];
  /** Keep only bytes [from, cut) of the record: a segment of a hello split across several. */
  from?: number;
  cut?: number;
}

export interface PacketSpec {
  eth?: EthSpec;
  ipv4?: Ipv4Spec;
  ipv6?: Ipv6Spec;
  udp?: UdpSpec;
  tcp?: TcpSpec;
  dns?: DnsSpec;
  tlsClientHello?: TlsHelloSpec;
  /** Raw transport payload as hex (after any dns/tls payload). */
  payloadHex?: string;
  /** Raw bytes after the Ethernet header instead of any IP layer. */
  l3Hex?: string;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const MAC_A = Buffer.from("020000000001", "hex");
const MAC_B = Buffer.from("020000000002", "hex");

function sum16(buf: Buffer, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) s += buf.readUInt16BE(i);
  if (buf.length % 2 === 1) s += buf[buf.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]);
}

/** A dotted name in wire form; labels are ASCII bytes, case kept. */
export function wireName(name: string): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter((l) => l.length > 0);
  return Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, "latin1")]), Buffer.from([0])]);
}

export function dnsMessage(d: DnsSpec): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(d.id ?? 0x1234, 0);
  const flags =
    (d.response ? 0x8000 : 0) | ((d.opcode ?? 0) << 11) | ((d.rd ?? true) ? 0x0100 : 0) | (d.response ? 0x0080 : 0) | (d.rcode ?? 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(d.qdcount ?? 1, 4);
  h.writeUInt16BE(d.ancount ?? 0, 6);
  const name = d.qnameHex !== undefined ? Buffer.from(d.qnameHex, "hex") : wireName(d.qname ?? "www.example.com");
  const q = Buffer.alloc(4);
  q.writeUInt16BE(d.qtype ?? 1, 0);
  q.writeUInt16BE(d.qclass ?? 1, 2);
  const msg = Buffer.concat([h, name, q, Buffer.from(d.tailHex ?? "", "hex")]);
  if (!d.tcpPrefix) return msg;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

function ext(type: number, body: Buffer): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(body.length, 2);
  return Buffer.concat([b, body]);
}

/** A TLS 1.2-record ClientHello (TLS 1.3 style: supported_versions), with SNI when given. */
export function tlsClientHello(t: TlsHelloSpec): Buffer {
  const exts: Buffer[] = [];
  for (const n of t.padBefore ?? []) exts.push(ext(0x0015, Buffer.alloc(n))); // padding (RFC 7685)
  if (t.sni !== undefined) {
    const host = Buffer.from(t.sni, "latin1");
    const entry = Buffer.alloc(3);
    entry[0] = 0;
    entry.writeUInt16BE(host.length, 1);
    const list = Buffer.concat([entry, host]);
    const listLen = Buffer.alloc(2);
    listLen.writeUInt16BE(list.length);
    exts.push(ext(0x0000, Buffer.concat([listLen, list])));
  }
  exts.push(ext(0x002b, Buffer.from("020304", "hex"))); // supported_versions: TLS 1.3
  const extBytes = Buffer.concat(exts);
  const extLen = Buffer.alloc(2);
  extLen.writeUInt16BE(extBytes.length);
  const body = Buffer.concat([
    Buffer.from("0303", "hex"),
    Buffer.alloc(32, 0x11), // random
    Buffer.from([32]),
    Buffer.alloc(32, 0x22), // legacy session id
    Buffer.from("0004130113020100", "hex"), // two cipher suites, one compression method (null)
    extLen,
    extBytes,
  ]);
  const hs = Buffer.alloc(4);
  hs[0] = 1;
  hs.writeUIntBE(body.length, 1, 3);
  const rec = Buffer.alloc(5);
  rec[0] = 22;
  rec.writeUInt16BE(0x0301, 1);
  rec.writeUInt16BE(hs.length + body.length, 3);
  const whole = Buffer.concat([rec, hs, body]);
  return whole.subarray(t.from ?? 0, t.cut ?? whole.length);
}

const TCP_FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

function tcpHeader(t: TcpSpec): Buffer {
  const opts = pad4(Buffer.from(t.options ?? "", "hex"));
  const h = Buffer.alloc(20 + opts.length);
  h.writeUInt16BE(t.sport, 0);
  h.writeUInt16BE(t.dport, 2);
  h.writeUInt32BE((t.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE((t.ack ?? 0) >>> 0, 8);
  h[12] = (h.length / 4) << 4;
  h[13] = [...(t.flags ?? "A")].reduce((f, c) => f | (TCP_FLAG_BITS[c] ?? 0), 0);
  h.writeUInt16BE(65535, 14);
  opts.copy(h, 20);
  return h;
}

const EXT_TYPE = { hop: 0, routing: 43, dst: 60, frag: 44, ah: 51 } as const;

function ipv6Ext(e: Ipv6ExtSpec, next: number): Buffer {
  if (e.type === "frag") {
    const b = Buffer.alloc(8);
    b[0] = next;
    b.writeUInt16BE(((e.fragOffset ?? 0) << 3) | 0, 2);
    return b;
  }
  if (e.type === "ah") {
    const len = e.len ?? 12;
    const b = Buffer.alloc(len);
    b[0] = next;
    b[1] = len / 4 - 2;
    return b;
  }
  const len = e.len ?? 8;
  const b = Buffer.alloc(len);
  b[0] = next;
  b[1] = len / 8 - 1;
  if (e.type === "hop" || e.type === "dst") b.fill(0, 2); // Pad1 options
  return b;
}

/** Where each layer of a built frame starts (-1 when absent). */
export interface Layers {
  l3: number;
  l4: number;
  payload: number;
}

/** The whole frame of a spec. */
export function buildPacket(s: PacketSpec): Buffer {
  return buildPacketLayers(s).frame;
}

export function buildPacketLayers(s: PacketSpec): { frame: Buffer; layers: Layers } {
  let payload: Buffer = Buffer.alloc(0);
  if (s.dns) payload = dnsMessage(s.dns);
  if (s.tlsClientHello) payload = tlsClientHello(s.tlsClientHello);
  if (s.payloadHex) payload = Buffer.concat([payload, Buffer.from(s.payloadHex, "hex")]);

  let l4: Buffer = payload;
  let l4Header = 0;
  let proto = 59; // IPPROTO_NONE
  if (s.udp) {
    const u = Buffer.alloc(8);
    u.writeUInt16BE(s.udp.sport, 0);
    u.writeUInt16BE(s.udp.dport, 2);
    u.writeUInt16BE(s.udp.length ?? 8 + payload.length, 4);
    l4 = Buffer.concat([u, payload]);
    l4Header = 8;
    proto = 17;
  } else if (s.tcp) {
    const th = tcpHeader(s.tcp);
    l4 = Buffer.concat([th, payload]);
    l4Header = th.length;
    proto = 6;
  }

  let l3: Buffer;
  let l3Header = 0;
  let etherType: number;
  if (s.ipv4) {
    const opts = pad4(Buffer.from(s.ipv4.options ?? "", "hex"));
    const h = Buffer.alloc(20 + opts.length);
    h[0] = 0x40 | (s.ipv4.ihl ?? h.length / 4);
    h.writeUInt16BE(s.ipv4.totalLength ?? h.length + l4.length, 2);
    h.writeUInt16BE(0x4242, 4);
    h.writeUInt16BE(((s.ipv4.moreFragments ? 1 : 0) << 13) | (s.ipv4.fragOffset ?? 0), 6);
    h[8] = 64;
    h[9] = s.ipv4.proto ?? proto;
    Buffer.from(s.ipv4.src.split(".").map(Number)).copy(h, 12);
    Buffer.from(s.ipv4.dst.split(".").map(Number)).copy(h, 16);
    opts.copy(h, 20);
    h.writeUInt16BE(~sum16(h) & 0xffff, 10);
    l3 = Buffer.concat([h, l4]);
    l3Header = h.length;
    etherType = ETH_P_IP;
  } else if (s.ipv6) {
    const exts = s.ipv6.ext ?? [];
    let next = s.ipv6.proto ?? proto;
    const built: Buffer[] = [];
    for (let i = exts.length - 1; i >= 0; i--) {
      built.unshift(ipv6Ext(exts[i]!, next));
      next = EXT_TYPE[exts[i]!.type];
    }
    const body = Buffer.concat([...built, l4]);
    const h = Buffer.alloc(40);
    h.writeUInt32BE(0x60000000, 0);
    h.writeUInt16BE(s.ipv6.payloadLength ?? body.length, 4);
    h[6] = next;
    h[7] = 64;
    encodeAddr16(s.ipv6.src).copy(h, 8);
    encodeAddr16(s.ipv6.dst).copy(h, 24);
    l3 = Buffer.concat([h, body]);
    l3Header = 40 + body.length - l4.length;
    etherType = ETH_P_IPV6;
  } else {
    l3 = Buffer.from(s.l3Hex ?? "", "hex");
    etherType = s.eth?.type ?? 0x88b5; // IEEE local experimental
  }

  const tags = s.eth?.vlan ?? [];
  const tag = Buffer.concat(
    tags.map((vid, i) => {
      const b = Buffer.alloc(4);
      const tpid = s.eth?.tpid?.[i] ?? (tags.length > 1 && i === 0 ? 0x88a8 : 0x8100);
      b.writeUInt16BE(tpid, 0);
      b.writeUInt16BE(vid & 0xfff, 2);
      return b;
    }),
  );
  const eth = Buffer.alloc(12);
  MAC_B.copy(eth, 0);
  MAC_A.copy(eth, 6);
  const types = Buffer.alloc(2);
  let pppoe = Buffer.alloc(0);
  if (s.eth?.pppoe) {
    pppoe = Buffer.alloc(8);
    pppoe[0] = 0x11;
    pppoe.writeUInt16BE(0x5a6a, 2);
    pppoe.writeUInt16BE(l3.length + 2, 4);
    pppoe.writeUInt16BE(etherType === ETH_P_IPV6 ? 0x0057 : 0x0021, 6);
    etherType = 0x8864;
  }
  types.writeUInt16BE(s.eth?.type ?? etherType);
  const frame = Buffer.concat([eth, tag, types, pppoe, l3]);
  const l3At = 14 + tag.length + pppoe.length;
  const ip = s.ipv4 !== undefined || s.ipv6 !== undefined;
  const l4At = ip ? l3At + l3Header : -1;
  const hasL4 = ip && (s.udp !== undefined || s.tcp !== undefined);
  return { frame, layers: { l3: l3At, l4: hasL4 ? l4At : -1, payload: hasL4 ? l4At + l4Header : -1 } };
}
