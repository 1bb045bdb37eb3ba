import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDns, rdataText, typeName } from "../src/dns.js";
import { runCapture } from "../src/conformance-score.js";
import { readCapture } from "../src/pcap.js";
import { decodePacket } from "../src/packet.js";
import { allCaptures, tsharkFields } from "./tshark.js";

test("every DNS message in the captures: id, QR, first question, rcode and section counts agree with tshark", async () => {
  let compared = 0;
  for (const path of allCaptures()) {
    const rows = tsharkFields(path, ["dns.id", "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.count.queries", "dns.count.answers", "dns.count.auth_rr", "dns.count.add_rr", "_ws.malformed"], "dns && !nbns");
    if (rows.length === 0) continue;
    const out = await runCapture(path);
    for (const row of rows) {
      const [frame = "", id = "", resp = "", qname = "", qtype = "", rcode = "", qd = "", an = "", ns = "", ar = "", malformed = ""] = row.map((x) => x.split(",")[0] ?? "");
      const n = Number(frame);
      const ours = out.dnsByPacket.get(n)?.[0]?.message;
      if (!ours) {
        // tshark may decode what we reject; then we must have counted a fault for the packet.
        assert.ok(out.faultsByPacket.has(n) || malformed !== "", `${path} #${n}: no DNS message and no fault counted`);
        continue;
      }
      const where = `${path} #${n}`;
      assert.equal(ours.id, Number(id), `${where} id`);
      assert.equal(ours.qr, resp === "1" || resp === "True", `${where} qr`);
      // UPDATE messages (RFC 2136) name their sections zone/prerequisite/update, which tshark reports elsewhere.
      if (qd !== "") {
        assert.equal(ours.counts.qd, Number(qd), `${where} qdcount`);
        assert.equal(ours.counts.an, Number(an), `${where} ancount`);
        assert.equal(ours.counts.ns, Number(ns), `${where} nscount`);
        assert.equal(ours.counts.ar, Number(ar), `${where} arcount`);
      }
      if (rcode !== "") assert.equal(ours.rcode & 0x0f, Number(rcode), `${where} rcode`);
      if (qname !== "" && ours.questions[0] && malformed === "" && ours.error === null) {
        const theirs = qname === "<Root>" ? "" : qname;
        assert.equal(ours.questions[0].name.toLowerCase(), theirs.toLowerCase(), `${where} qname`);
        assert.equal(ours.questions[0].type, Number(qtype), `${where} qtype`);
      }
      compared++;
    }
  }
  assert.ok(compared > 9000, `compared ${compared} DNS messages`);
});

async function firstDnsPayload(suffix: string, index = 0): Promise<Buffer> {
  const path = allCaptures().find((p) => p.endsWith(suffix))!;
  let i = 0;
  for await (const c of readCapture(path)) {
    const p = decodePacket(c.linkType, c.data, c.tsUs, c.origLen);
    if (typeof p === "string" || p.payload.length < 12) continue;
    if (i++ === index) return Buffer.from(p.payload);
  }
  throw new Error(`no DNS payload in ${suffix}`);
}

test("truncation at every offset of a real response: no exception, the fault is reported", async () => {
  const msg = await firstDnsPayload("dns-wiresharkrepo.pcap", 1);
  const full = parseDns(msg);
  assert.ok(typeof full !== "string" && full.error === null && full.answers.length > 0);
  for (let n = 0; n < msg.length; n++) {
    const r = parseDns(msg.subarray(0, n));
    if (n < 12) assert.equal(r, "short_header");
    else assert.ok(typeof r !== "string" && r.error !== null, `prefix ${n} parsed without a fault`);
  }
  // Flipping every byte still never throws.
  for (let i = 0; i < msg.length; i++) {
    const bad = Buffer.from(msg);
    bad[i] = bad[i]! ^ 0xff;
    parseDns(bad);
  }
});

function header(qd: number, an = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x1234, 0);
  h.writeUInt16BE(0x8180, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  return h;
}

test("compression loops and bad pointers are faults, legal pointer chains are followed", () => {
  const self = Buffer.concat([header(1), Buffer.from("c00c00010001", "hex")]);
  assert.equal((parseDns(self) as { error: string }).error, "name_bad_pointer");
  // Question "a" + pointer to offset 17 ("b" + pointer back to 12): the pair would loop forever.
  const mutual = Buffer.concat([header(1), Buffer.from("0161c011" + "0162c00c" + "00010001", "hex")]);
  const r = parseDns(mutual);
  assert.ok(typeof r !== "string" && r.error === "name_bad_pointer");
  const forward = Buffer.concat([header(1), Buffer.from("c01000010001000000", "hex")]);
  assert.equal((parseDns(forward) as { error: string }).error, "name_bad_pointer");
  // www.example.com, then an answer whose name points at it: a legal chain.
  const legal = Buffer.concat([header(1, 1), Buffer.from("03777777076578616d706c6503636f6d0000010001" + "c00c000100010000003c00040a000001", "hex")]);
  const ok = parseDns(legal);
  assert.ok(typeof ok !== "string" && ok.error === null);
  assert.equal(ok.answers[0]!.name, "www.example.com");
  assert.equal(rdataText(ok.answers[0]!), "10.0.0.1");
  // 128 labels of 1 byte: 256 octets on the wire, one more than RFC 1035 allows; kept and reported.
  const long = Buffer.concat([header(1), Buffer.from("0161".repeat(128) + "0000010001", "hex")]);
  const lr = parseDns(long);
  assert.ok(typeof lr !== "string" && lr.error === "name_too_long" && lr.questions.length === 1);
});

test("record types in real captures render in presentation form", async () => {
  const https = await firstDnsPayload("dns-https.pcap", 1);
  const m = parseDns(https);
  assert.ok(typeof m !== "string");
  const rr = m.answers.find((a) => typeName(a.type) === "HTTPS");
  assert.ok(rr, "an HTTPS answer");
  assert.match(rdataText(rr), /^1 \. alpn="?h3,h2"?/);
  const nsec = parseDns(await firstDnsPayload("nsec.pcap", 1));
  assert.ok(typeof nsec !== "string");
  const all = [...nsec.answers, ...nsec.authorities];
  assert.ok(all.some((a) => a.data.kind === "nsec" && a.data.types.length > 0));
  assert.ok(all.some((a) => a.data.kind === "rrsig" && a.data.signer === "upenn.edu"));
});
