import { test } from "node:test";
import assert from "node:assert/strict";
import { readCapture } from "../src/pcap.js";
import { decodePacket, ipv6Text, newDecodeStats, LINK } from "../src/packet.js";
import { allCaptures, tsharkFields } from "./tshark.js";

test("every capture: addresses, protocol and ports of each packet agree with tshark", async () => {
  let compared = 0;
  for (const path of allCaptures()) {
    const rows = tsharkFields(path, ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport", "ip.flags.mf", "ip.frag_offset"]);
    let i = 0;
    for await (const c of readCapture(path)) {
      const row = rows[i++]!;
      const [, ip4s, ip4d, ip6s, ip6d, proto, us, ud, ts, td, mf, fo] = row.map((x) => x.split(",")[0] ?? "");
      const p = decodePacket(c.linkType, c.data, c.tsUs, c.origLen);
      const tsharkHasIp = ip4s !== "" || ip6s !== "";
      if (typeof p === "string") {
        assert.ok(!tsharkHasIp || p !== "non_ip", `${path} #${i}: tshark sees IP, we said ${p}`);
        continue;
      }
      assert.ok(tsharkHasIp, `${path} #${i}: we decoded IP, tshark did not`);
      // tshark lists an IPv4-in-IPv6 (or 6in4) tunnel's outer header first, as we decode it.
      const v4First = ip4s !== "" && (ip6s === "" || p.ipVersion === 4);
      assert.equal(p.src, v4First ? ip4s : ip6s, `${path} #${i} src`);
      assert.equal(p.dst, v4First ? ip4d : ip6d, `${path} #${i} dst`);
      if (v4First && proto !== "") assert.equal(p.proto, Number(proto), `${path} #${i} proto`);
      const fragment = mf === "1" || mf === "True" || (fo !== "" && fo !== "0") || p.firstFragment || p.laterFragment;
      if (fragment || p.proto === 1 || p.proto === 58) continue;
      if (p.proto === 17 && us !== "") {
        assert.equal(p.srcPort, Number(us), `${path} #${i} udp sport`);
        assert.equal(p.dstPort, Number(ud), `${path} #${i} udp dport`);
        compared++;
      }
      if (p.proto === 6 && ts !== "") {
        assert.equal(p.srcPort, Number(ts), `${path} #${i} tcp sport`);
        assert.equal(p.dstPort, Number(td), `${path} #${i} tcp dport`);
        compared++;
      }
    }
    assert.equal(i, rows.length, `${path}: packet count`);
  }
  assert.ok(compared > 30_000, `compared ${compared} packets`);
});

test("RFC 5952 IPv6 text", () => {
  const t = (hex: string): string => ipv6Text(Buffer.from(hex, "hex"), 0);
  assert.equal(t("20010db8000000000000000000000001"), "2001:db8::1");
  assert.equal(t("00000000000000000000000000000000"), "::");
  assert.equal(t("20010db8000000010000000000000001"), "2001:db8:0:1::1");
  assert.equal(t("20010db8000000000001000000000001"), "2001:db8::1:0:0:1");
  assert.equal(t("00000000000000000000ffffc0000201"), "::ffff:192.0.2.1");
});

test("malformed frames become counted error kinds, never exceptions", () => {
  const stats = newDecodeStats();
  const eth = Buffer.from("ffffffffffff0000000000010800" + "4500003c00004000401100000a0000010a000002" + "d43100350028" + "0000", "hex");
  // Every prefix of a valid frame, on every link type this decoder reads.
  for (const link of [LINK.ETHERNET, LINK.NULL, LINK.RAW, LINK.LINUX_SLL, LINK.LINUX_SLL2, LINK.IPV4, LINK.IPV6, 9999]) {
    for (let n = 0; n <= eth.length; n++) decodePacket(link, eth.subarray(0, n), 0, n, stats);
  }
  const errors = Object.values(stats.errors).reduce((a, b) => a + b, 0);
  assert.ok(errors > 50, `errors counted: ${JSON.stringify(stats.errors)}`);
  assert.ok(stats.errors.link_unsupported > 0);
  // A header that says IHL 4 (16 bytes) is malformed, not decodable.
  assert.equal(decodePacket(LINK.RAW, Buffer.from("4400001400000000401100000a0000010a000002", "hex"), 0, 20), "ip_bad_header");
});

test("UDP length shorter than the IP payload is trusted (tcpdump zlip captures)", () => {
  const ip = Buffer.from("4500002c000000004011000001020304050607080400003500080000" + "00".repeat(16), "hex");
  const p = decodePacket(LINK.RAW, ip, 0, ip.length);
  assert.ok(typeof p !== "string");
  assert.equal(p.payload.length, 0);
});
