// The programs on a real interface: a veth pair into a network namespace made here, XDP on the host side's
// ingress and TC on its egress, a DNS responder on the host side and real queries sent from the
// namespace. The events arrive in JavaScript through the ring-buffer consumer, the counters move, enforce
// mode drops on the wire, and everything is detached and removed afterwards.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { createSocket, type Socket } from "node:dgram";
import { after, before, test } from "node:test";
import { MODE } from "../../lib/src/model/layout.js";
import type { BpfLink } from "../../services/collector/src/bpf.js";
import { DNS_FLAG, EVENT_KIND, HOOK, type DnsEvent } from "../../services/collector/src/kernel-layout.js";
import { fixtureModel } from "./fixture-runner.js";
import { StoqKernel } from "./kernel.js";
import { dnsMessage } from "./packets.js";

const NS = `stoq-k${process.pid}`;
const HOST_IF = `stk${process.pid}a`;
const PEER_IF = `stk${process.pid}b`;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

/** A /30 in 198.18.0.0/15 that no interface of this host uses yet. */
function freeNet(): string {
  const used = ip("-o", "-4", "addr", "show");
  for (let i = 0; i < 64; i++) {
    const net = `198.18.${192 + ((process.pid + i) % 64)}`;
    if (!used.includes(` ${net}.`)) return net;
  }
  throw new Error("no free /30 in 198.18.192.0/18");
}

const NET = freeNet();
const HOST_IP = `${NET}.1`;
const PEER_IP = `${NET}.2`;

let k: StoqKernel;
let links: BpfLink[] = [];
let responder: Socket;
let answered = 0;

function removeVeth(): void {
  spawnSync("ip", ["link", "del", HOST_IF]);
  spawnSync("ip", ["netns", "del", NS]);
}

before(async () => {
  removeVeth();
  ip("netns", "add", NS);
  ip("link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF, "netns", NS);
  ip("addr", "add", `${HOST_IP}/30`, "dev", HOST_IF);
  ip("link", "set", HOST_IF, "up");
  ip("-n", NS, "addr", "add", `${PEER_IP}/30`, "dev", PEER_IF);
  ip("-n", NS, "link", "set", PEER_IF, "up");
  ip("-n", NS, "link", "set", "lo", "up");

  k = StoqKernel.open();
  links = [k.program("xdpIngress").attachXdp(HOST_IF, "native"), k.program("tcEgress").attachTc(HOST_IF, "egress")];

  // The host side answers every query: NXDOMAIN under .invalid, else one A record.
  responder = createSocket("udp4");
  responder.on("message", (q, rinfo) => {
    const r = Buffer.from(q);
    const nx = q.includes(Buffer.from("\x07invalid\x00", "latin1"));
    r.writeUInt16BE(0x8180 | (nx ? 3 : 0), 2);
    responder.send(r, rinfo.port, rinfo.address);
    answered++;
  });
  await new Promise<void>((resolve) => responder.bind(53, HOST_IP, resolve));
});

after(async () => {
  responder?.close();
  for (const l of links) l.detach();
  await k?.close();
  removeVeth();
});

/**
 * Sends the queries from the namespace, one at a time, waiting up to 300 ms for each answer; returns how
 * many were answered. Asynchronous: the responder lives on this process's event loop.
 */
async function queryFromPeer(names: string[]): Promise<number> {
  const msgs = names.map((qname, i) => dnsMessage({ id: 0x100 + i, qname, qtype: 1 }).toString("hex"));
  const script = `
    const s = require("node:dgram").createSocket("udp4");
    const msgs = ${JSON.stringify(msgs)};
    let i = 0, got = 0, timer;
    const next = () => {
      if (i >= msgs.length) { s.close(); process.stdout.write(String(got)); return; }
      s.send(Buffer.from(msgs[i++], "hex"), 53, ${JSON.stringify(HOST_IP)});
      timer = setTimeout(next, 300);
    };
    s.on("message", () => { got++; clearTimeout(timer); next(); });
    s.bind(0, ${JSON.stringify(PEER_IP)}, next);`;
  const { stdout } = await promisify(execFile)("ip", ["netns", "exec", NS, process.execPath, "-e", script], { encoding: "utf8", timeout: 30_000 });
  return Number(stdout);
}

const NAMES = Array.from({ length: 40 }, (_, i) => (i % 4 === 3 ? `missing${i}.invalid` : `host${i}.example.com`));

test("DNS queries from the namespace reach XDP, answers leave through TC, events arrive in JavaScript", async () => {
  k.setModel(0, fixtureModel("benign", 101n));
  k.setControl({ active: 0, mode: MODE.enforce, shadow: 0 });
  const xdpBefore = k.stats("xdpIngress");
  const tcBefore = k.stats("tcEgress");

  assert.equal(await queryFromPeer(NAMES), NAMES.length, "every query answered");
  const xdp = k.stats("xdpIngress");
  const tc = k.stats("tcEgress");
  assert.equal(xdp.dns_query - xdpBefore.dns_query, BigInt(NAMES.length));
  assert.equal(xdp.scored - xdpBefore.scored, BigInt(NAMES.length));
  assert.equal(xdp.verdict_drop - xdpBefore.verdict_drop, 0n);
  assert.equal(tc.dns_response - tcBefore.dns_response, BigInt(NAMES.length));

  const events = (await k.takeAllEvents()).filter((e): e is DnsEvent => e.kind === EVENT_KIND.dns);
  const queries = events.filter((e) => e.hook === HOOK.xdpIngress && !(e.flags & DNS_FLAG.response));
  const answers = events.filter((e) => e.hook === HOOK.tcEgress && e.flags & DNS_FLAG.response);
  assert.equal(queries.length, NAMES.length);
  assert.equal(answers.length, NAMES.length);
  for (const q of queries) {
    assert.equal(q.tuple.saddr, PEER_IP);
    assert.equal(q.tuple.daddr, HOST_IP);
    assert.equal(q.modelVersion, 101n);
    assert.equal(q.ifindex, Number(ip("-j", "link", "show", HOST_IF).match(/"ifindex":(\d+)/)?.[1]));
  }
  assert.equal(answers.filter((a) => (a.hdrFlags & 0xf) === 3).length, NAMES.length / 4, "NXDOMAIN answers");
  // The client's state saw the NXDOMAIN answers: its later queries read a non-zero ratio.
  const last = queries.at(-1)!;
  assert.ok(last.features[21]! > 0, "SRC_NXDOMAIN_RATIO after NXDOMAIN answers");
});

test("enforce mode with a threat verdict drops the queries on the wire", async () => {
  k.setModel(1, fixtureModel("threat", 102n));
  k.setControl({ active: 1, mode: MODE.enforce, shadow: 0 });
  const before = k.stats("xdpIngress");
  const answeredBefore = answered;
  await k.takeAllEvents();

  assert.equal(await queryFromPeer(NAMES.slice(0, 5)), 0, "no query answered");
  assert.equal(answered, answeredBefore, "the responder saw none");
  const after = k.stats("xdpIngress");
  assert.equal(after.verdict_drop - before.verdict_drop, 5n);
  const drops = (await k.takeAllEvents()).filter((e) => e.kind === EVENT_KIND.drop);
  assert.equal(drops.length, 5);
  k.setControl({ active: 0, mode: MODE.observe, shadow: 0 });
});

test("detaching leaves the interface without programs", () => {
  for (const l of links) l.detach();
  links = [];
  assert.doesNotMatch(ip("link", "show", HOST_IF), /xdp/);
  assert.doesNotMatch(execFileSync("bpftool", ["net", "show", "dev", HOST_IF], { encoding: "utf8" }), /stoq_/);
});
