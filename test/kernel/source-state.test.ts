// Features 19..28 as the kernel computes them equal feature_spec v1's TypeScript reference
// (lib/src/model/source-state.ts) fed the same messages at the kernel's own timestamps: rate windows
// (adjacent and not), distinct names, decayed ratios past 256 queries and responses, response-time
// EWMA, IPv6 clients keyed by /64, the admission of a client on its second message (features read as
// zeros before), and the collector's server facts with saturation.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { FEATURE, nameFeatures, nameHash } from "../../lib/src/model/features.js";
import { loadBigramTable } from "../../lib/src/model/bigram.js";
import { SourceState, factFeatures } from "../../lib/src/model/source-state.js";
import { EVENT_KIND, SOURCE_LAYOUT, encodeServerFacts, encodeServerKey, type DnsEvent } from "../../services/collector/src/kernel-layout.js";
import { StoqKernel } from "./kernel.js";
import { buildPacket, type PacketSpec } from "./packets.js";

let k: StoqKernel;
const bigram = loadBigramTable();

before(() => {
  k = StoqKernel.open();
});

after(async () => {
  await k.close();
});

const SOURCE_FEATURES = FEATURE.SRC_QPS;
const FACT_FEATURES = FEATURE.FACT_PRESENT;

interface Message {
  client: string;
  resolver: string;
  response: boolean;
  id: number;
  qname: string;
  qtype: number;
  rcode: number;
}

function frame(m: Message): Buffer {
  const v6 = m.client.includes(":");
  const ip = v6 ? { ipv6: { src: m.response ? m.resolver : m.client, dst: m.response ? m.client : m.resolver } } : { ipv4: { src: m.response ? m.resolver : m.client, dst: m.response ? m.client : m.resolver } };
  const spec: PacketSpec = {
    ...ip,
    udp: m.response ? { sport: 53, dport: 33000 } : { sport: 33000, dport: 53 },
    dns: { id: m.id, response: m.response, rcode: m.rcode, qname: m.qname, qtype: m.qtype },
  };
  return buildPacket(spec);
}

/** The reference's view of one client (the kernel's key: IPv4 address or IPv6 /64), admitted on its second message. */
class Client {
  state: SourceState | null = null;
  seen = 0;

  /** Applies the message as the kernel does; returns the features 19..25 a query reads. */
  apply(e: DnsEvent): Int32Array {
    if (this.state === null) {
      this.seen++;
      if (this.seen === 1) return new Int32Array(7);
      this.state = new SourceState();
    }
    const wire = e.msg.subarray(12, 12 + e.qnameLen);
    if (e.flags & 1) {
      this.state.onResponse({ nowNs: e.tsNs, qid: e.id, rcode: e.hdrFlags & 0xf });
      return new Int32Array(7);
    }
    const sub = nameFeatures(wire, bigram);
    assert.ok(sub);
    this.state.onQuery({ nowNs: e.tsNs, hash: nameHash(wire)!, qtype: e.qtype, dnsLen: e.msgLen, subLen: sub[FEATURE.SUB_LEN]!, qid: e.id });
    return this.state.features();
  }
}

function prefix64(addr: string): string {
  return addr.includes(":") ? encodeServerKey(addr).subarray(0, 8).toString("hex") : addr;
}

/** Largest value each source feature took, so a test can show it exercised every one. */
const seenMax = new Int32Array(7);

async function exchange(messages: Message[], clients: Map<string, Client>): Promise<number> {
  let checked = 0;
  for (const m of messages) {
    const r = await k.runCollect("xdpIngress", frame(m));
    const e = r.events.find((x): x is DnsEvent => x.kind === EVENT_KIND.dns);
    assert.ok(e, `no DNS event for ${m.qname}`);
    const key = prefix64(m.client);
    const c = clients.get(key) ?? new Client();
    clients.set(key, c);
    const want = c.apply(e);
    if (!m.response) {
      assert.deepEqual(Array.from(e.features.subarray(SOURCE_FEATURES, SOURCE_FEATURES + 7)), Array.from(want), `query ${m.id} of ${m.client} (${m.qname})`);
      want.forEach((v, i) => (seenMax[i] = Math.max(seenMax[i]!, v)));
      checked++;
    }
  }
  return checked;
}

const NAMES = ["www.example.com", "mail.example.org", "x7k2q9zt1vb8.net", "a.very.long.tunnel.label.carrying.data.aGVsbG8gd29ybGQ.t.example.com", "cdn.example.net"];

test("per-source features equal the reference over windows, decay and response times", async () => {
  k.reset();
  const clients = new Map<string, Client>();
  const client = "198.18.7.1";
  const resolver = "198.18.0.53";
  let id = 1;
  const burst = (n: number, nxEvery: number): Message[] =>
    Array.from({ length: n }, (_, i) => {
      const qid = id++;
      const q: Message = { client, resolver, response: false, id: qid, qname: NAMES[i % NAMES.length]!, qtype: i % 7 === 0 ? 16 : 1, rcode: 0 };
      const a: Message = { ...q, response: true, rcode: i % nxEvery === 0 ? 3 : 0, id: i % 11 === 0 ? qid + 1 : qid };
      return [q, a];
    }).flat();
  let checked = await exchange(burst(150, 3), clients);
  await sleep(1100); // the next window: the previous one is kept
  checked += await exchange(burst(160, 4), clients);
  await sleep(2300); // two windows later: the previous one is forgotten
  checked += await exchange(burst(20, 2), clients);
  assert.equal(checked, 330);
  // Every feature moved (rate, distinct names, NXDOMAIN, size, response time, tunnel and long names),
  // and the decayed counters were halved at least once.
  assert.ok(seenMax.every((v) => v > 0), `features that never moved: ${Array.from(seenMax).join(",")}`);
  const entry = k.obj.map("stoq_sources4").lookup(Buffer.from(client.split(".").map(Number)));
  assert.ok(entry);
  const qTotal = entry.readUInt16LE(SOURCE_LAYOUT.fields.q_total.offset);
  assert.ok(qTotal < 256);
  assert.equal(qTotal, clients.get(client)?.state?.qTotal);
});

test("IPv6 clients are keyed by their /64", async () => {
  k.reset();
  const clients = new Map<string, Client>();
  const resolver = "2001:db8:53::53";
  const msgs: Message[] = [];
  let id = 500;
  for (const client of ["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:3::a", "2001:db8:1:2:ffff::1"]) {
    for (let i = 0; i < 4; i++) msgs.push({ client, resolver, response: false, id: id++, qname: NAMES[i]!, qtype: 28, rcode: 0 });
  }
  assert.equal(await exchange(msgs, clients), 16);
  assert.equal(clients.size, 2);
});

test("server facts from the collector's map are read, saturated, and zero when absent", async () => {
  k.reset();
  const servers = k.obj.map("stoq_servers");
  servers.update(encodeServerKey("198.18.0.1"), encodeServerFacts({ certAgeHours: 4000, chainLen: 3 }));
  servers.update(encodeServerKey("2001:db8::443"), encodeServerFacts({ certAgeHours: 5_000_000, chainLen: 40 }));
  const cases: [string, string, { certAgeHours: number; chainLen: number } | null][] = [
    ["198.18.8.1", "198.18.0.1", { certAgeHours: 4000, chainLen: 3 }],
    ["2001:db8::8", "2001:db8::443", { certAgeHours: 5_000_000, chainLen: 40 }],
    ["198.18.8.2", "198.18.0.2", null],
  ];
  for (const [client, resolver, facts] of cases) {
    const r = await k.runCollect("xdpIngress", frame({ client, resolver, response: false, id: 9, qname: "www.example.com", qtype: 1, rcode: 0 }));
    const e = r.events[0] as DnsEvent;
    assert.deepEqual(Array.from(e.features.subarray(FACT_FEATURES, FACT_FEATURES + 3)), Array.from(factFeatures(facts)), `facts of ${resolver}`);
  }
});
