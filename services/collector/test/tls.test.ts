import { test } from "node:test";
import assert from "node:assert/strict";
import { runCapture } from "../src/conformance-score.js";
import { parseClientHello, TlsDirection } from "../src/tls.js";
import { allCaptures, tsharkFields } from "./tshark.js";

test("every ClientHello SNI and ServerHello cipher tshark finds, we find on the same connection", async () => {
  let compared = 0;
  for (const path of allCaptures()) {
    const hellos = tsharkFields(path, ["ip.src", "ipv6.src", "tcp.srcport", "tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.ciphersuite"], "tls.handshake.type == 1 || tls.handshake.type == 2");
    if (hellos.length === 0) continue;
    const out = await runCapture(path);
    for (const [, ip4, ip6, port, types, sni, ciphers] of hellos) {
      const addr = (ip4 || ip6 || "").split(",")[0]!;
      const typeList = (types ?? "").split(",");
      if (typeList.includes("1") && sni) {
        const s = out.tls.find((x) => x.client === addr && x.clientPort === Number(port));
        assert.equal(s?.clientHello?.sni, sni.split(",")[0], `${path}: SNI of ${addr}:${port}`);
        compared++;
      }
      if (typeList.includes("2") && ciphers) {
        const s = out.tls.find((x) => x.server === addr && x.serverPort === Number(port));
        // A ServerHello carries one suite; tshark prints it in hex.
        const cipher = Number(ciphers.split(",").pop());
        assert.ok(s?.serverHello, `${path}: ServerHello from ${addr}:${port}`);
        assert.equal(s.serverHello.cipherSuite, cipher, `${path}: cipher from ${addr}:${port}`);
        compared++;
      }
    }
  }
  assert.ok(compared >= 40, `compared ${compared}`);
});

test("a Certificate message split across many records and segments is reassembled; junk is a counted failure", () => {
  // Handshake message: type 11, 3-byte length, certificate_list of one 3000-byte "certificate".
  const cert = Buffer.alloc(3000, 0x30);
  const list = Buffer.concat([Buffer.from([0, 0x0b, 0xbb]), Buffer.from([0, 0x0b, 0xb8]), cert]);
  const hs = Buffer.concat([Buffer.from([11, 0, (list.length >> 8) & 0xff, list.length & 0xff]), list]);
  const records: Buffer[] = [];
  for (let i = 0; i < hs.length; i += 1000) {
    const frag = hs.subarray(i, i + 1000);
    records.push(Buffer.concat([Buffer.from([22, 3, 3, frag.length >> 8, frag.length & 0xff]), frag]));
  }
  const stream = Buffer.concat(records);
  const d = new TlsDirection();
  const events = [];
  for (let i = 0; i < stream.length; i += 7) events.push(...d.push([stream.subarray(i, i + 7)]));
  const certs = events.filter((e) => e.type === "certificate");
  assert.equal(certs.length, 1);
  assert.equal(certs[0]!.type === "certificate" && certs[0]!.chain[0]!.length, 3000);
  const junk = new TlsDirection();
  junk.push([Buffer.from("GET / HTTP/1.1\r\n")]);
  assert.equal(junk.failed, "not_tls");
  assert.equal(parseClientHello(Buffer.alloc(10)), null);
});
