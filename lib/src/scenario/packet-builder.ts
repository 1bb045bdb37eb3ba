// Builds well-formed Ethernet/IPv4 DNS-over-UDP packets for generated scenarios (checksums included, so
// tshark and the kernel program accept them as real traffic).

/* Ethernet II: dst(6) src(6) ethertype(2)=0x0800.
 * IPv4: ver/ihl, tos, total length, id, flags/frag, ttl, proto=17, checksum, src, dst (20 bytes, no options).
 * UDP: src port, dst port, length, checksum (8 bytes; checksum over the IPv4 pseudo-header).
 * DNS: id, flags, qdcount, ancount, nscount, arcount (12 bytes), then sections (RFC 1035 4.1). */

export interface DnsPacketSpec {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly id: number;
  readonly qname: string;
  readonly qtype: number;
  /** Present for a response: rcode and A-record answers (IPv4 strings) with their TTL. */
  readonly response?: { readonly rcode: number; readonly answers: readonly string[]; readonly ttl: number };
}

const MAC_CLIENT = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const MAC_RESOLVER = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);

function ipv4Bytes(addr: string): Buffer {
  const parts = addr.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${addr}`);
  }
  return Buffer.from(parts);
}

function onesComplementSum(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2 === 1) sum += (buf[buf.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter((l) => l.length > 0);
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, "ascii");
    if (b.length > 63) throw new Error(`DNS label longer than 63 bytes in ${name}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function dnsMessage(spec: DnsPacketSpec): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(spec.id & 0xffff, 0);
  const answers = spec.response?.answers ?? [];
  // Query: RD. Response: QR, RD, RA and the rcode.
  const flags = spec.response ? 0x8180 | (spec.response.rcode & 0xf) : 0x0100;
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const question = Buffer.concat([encodeName(spec.qname), Buffer.from([0, 0, 0, 1])]);
  question.writeUInt16BE(spec.qtype, question.length - 4);
  const rrs = answers.map((a) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name at offset 12
    rr.writeUInt16BE(1, 2); // type A
    rr.writeUInt16BE(1, 4); // class IN
    rr.writeUInt32BE(spec.response?.ttl ?? 0, 6);
    rr.writeUInt16BE(4, 10);
    ipv4Bytes(a).copy(rr, 12);
    return rr;
  });
  return Buffer.concat([header, question, ...rrs]);
}

/** A complete Ethernet frame carrying the DNS message over UDP/IPv4. */
export function dnsPacket(spec: DnsPacketSpec): Buffer {
  const payload = dnsMessage(spec);
  const src = ipv4Bytes(spec.src);
  const dst = ipv4Bytes(spec.dst);

  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(spec.srcPort, 0);
  udp.writeUInt16BE(spec.dstPort, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 17]), Buffer.from([(8 + payload.length) >> 8, (8 + payload.length) & 0xff])]);
  const udpSum = ~onesComplementSum(Buffer.concat([udp, payload]), onesComplementSum(pseudo)) & 0xffff;
  udp.writeUInt16BE(udpSum === 0 ? 0xffff : udpSum, 6);

  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt16BE(spec.id & 0xffff, 4);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = 17;
  src.copy(ip, 12);
  dst.copy(ip, 16);
  ip.writeUInt16BE(~onesComplementSum(ip) & 0xffff, 10);

  const eth = Buffer.alloc(14);
  (spec.response ? MAC_CLIENT : MAC_RESOLVER).copy(eth, 0);
  (spec.response ? MAC_RESOLVER : MAC_CLIENT).copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, udp, payload]);
}
