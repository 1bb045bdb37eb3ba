// Community ID flow hash v1 (corelight/community-id-spec), so flow records join with Zeek, Suricata and
// Arkime output for the same connection.
import { createHash } from "node:crypto";
import { isIPv4 } from "node:net";

/*
 * Hashed bytes: seed u16 | src addr | dst addr | proto u8 | 0 u8 | src port u16 | dst port u16 (network order),
 * with the endpoints ordered so the smaller (address, then port) comes first. Result: "1:" + base64(SHA-1).
 */

function addrBytes(a: string): Buffer {
  if (isIPv4(a)) return Buffer.from(a.split(".").map(Number));
  const out = Buffer.alloc(16);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  let text = a;
  if (v4) {
    // An IPv4-mapped tail fills the last two groups.
    const b = v4[1]!.split(".").map(Number);
    text = `${a.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return out;
}

/** Community ID of a TCP, UDP or SCTP flow, or of a port-less protocol other than ICMP (null for ICMP, whose
 * ID needs the message type, which the flow table does not keep). */
export function communityId(proto: number, src: string, srcPort: number, dst: string, dstPort: number, seed = 0): string | null {
  if (proto === 1 || proto === 58) return null;
  let sa = addrBytes(src);
  let da = addrBytes(dst);
  let sp = srcPort;
  let dp = dstPort;
  const cmp = Buffer.compare(sa, da);
  if (cmp > 0 || (cmp === 0 && sp > dp)) {
    [sa, da] = [da, sa];
    [sp, dp] = [dp, sp];
  }
  const h = createHash("sha1");
  const seedBuf = Buffer.alloc(2);
  seedBuf.writeUInt16BE(seed);
  h.update(seedBuf).update(sa).update(da);
  const rest = Buffer.alloc(2);
  rest[0] = proto;
  h.update(rest);
  // Port-less protocols hash only the addresses and protocol.
  if (proto === 6 || proto === 17 || proto === 132) {
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(sp & 0xffff, 0);
    ports.writeUInt16BE(dp & 0xffff, 2);
    h.update(ports);
  }
  return `1:${h.digest("base64")}`;
}
