// The user-space scorer (pcap mode, hosts without BPF) scores a query exactly as the XDP program does,
// n-gram table included: for real names (benign, DGA, tunnel) under a model with a table, its feature
// vector's score equals the kernel's event score and the reference's score on the name's trigrams.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { encodeName, FEATURE_SPEC } from "../../../lib/src/model/features.js";
import { score, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { MODE } from "../../../lib/src/model/layout.js";
import { ngramRows } from "../../../lib/src/model/ngrams.js";
import { EVENT_KIND, type DnsEvent } from "../src/kernel-layout.js";
import { parseDns } from "../src/dns.js";
import type { DnsObservation } from "../src/observer.js";
import { UserspaceScorer } from "../src/userspace-scorer.js";
import { StoqKernel } from "../../../test/kernel/kernel.js";
import { buildPacket, dnsMessage } from "../../../test/kernel/packets.js";

const BITS = 11;

/** A 16-input, 24-hidden model with a 2048-row table whose units mostly stay inside 0..127. */
function tableModel(): QuantModel {
  let s = 99;
  const next = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24;
  const nIn = 16;
  const nHidden = 24;
  return {
    version: 5n,
    featureSpec: FEATURE_SPEC,
    nIn,
    nHidden,
    hMul: 1 << 13,
    hShift: 20,
    b2: -2000,
    threshold: 0,
    inZero: new Int32Array(nIn),
    inMul: new Int32Array(nIn).fill(1 << 10),
    b1: Int32Array.from({ length: nHidden }, () => Math.floor(next() * 40_000)),
    w1: Int8Array.from({ length: nHidden * nIn }, () => Math.floor(next() * 41) - 20),
    w2: Int8Array.from({ length: nHidden }, () => Math.floor(next() * 255) - 127),
    ngramBits: BITS,
    ngramShift: 4,
    ngram: Int8Array.from({ length: (1 << BITS) * nHidden }, () => Math.floor(next() * 256) - 128),
  };
}

function names(path: string, column: number, every: number, limit: number): string[] {
  const lines = readFileSync(new URL(`../../../../shared/data/${path}`, import.meta.url), "utf8").split("\n").slice(1);
  return lines
    .filter((_, i) => i % every === 0)
    .map((l) => l.split(",")[column]?.trim() ?? "")
    .filter((n) => n.length > 0)
    .slice(0, limit);
}

test("user space and the XDP program give every real name the same score under a table model", async () => {
  const m = tableModel();
  const all = [...names("domains/benign.csv", 0, 211, 150), ...names("domains/dga.csv", 0, 2003, 150), ...names("dns-tunnel/netrack/test.csv", 1, 7, 150)];
  const scorer = new UserspaceScorer({ node: "n", bigram: loadBigramTable(), mode: "observe" });
  scorer.setModel(m);
  const k = StoqKernel.open();
  try {
    k.setModel(0, m);
    k.setControl({ active: 0, mode: MODE.observe, shadow: 0 });
    let compared = 0;
    let moved = 0;
    for (const [i, name] of all.entries()) {
      const wire = encodeName(name);
      if (wire === null) continue;
      const dns = { id: i, qnameHex: Buffer.from(wire).toString("hex") };
      const message = parseDns(dnsMessage(dns));
      assert.ok(typeof message !== "string", name);
      const obs: DnsObservation = {
        kind: "dns",
        tsUs: 1_700_000_000_000_000 + i * 1000,
        src: "198.18.40.1",
        srcPort: 40000,
        dst: "198.18.0.53",
        dstPort: 53,
        transport: "udp",
        message,
        query: null,
        vlans: [],
      };
      const fv = scorer.observe(obs);
      const r = await k.runCollect("xdpIngress", buildPacket({ ipv4: { src: "198.18.40.1", dst: "198.18.0.53" }, udp: { sport: 40000, dport: 53 }, dns }));
      const ev = r.events.find((e): e is DnsEvent => e.kind === EVENT_KIND.dns);
      assert.ok(ev, name);
      if (fv === null) {
        assert.notEqual(ev.unscored, 0, `${name}: user space refused a name the kernel scored`);
        continue;
      }
      assert.equal(ev.unscored, 0, name);
      assert.equal(fv.model_version, 5);
      const rows = ngramRows(wire, BITS);
      assert.equal(fv.score, ev.score, `${name}: user space vs kernel`);
      assert.equal(fv.score, score(m, fv.values, rows), `${name}: user space vs the reference`);
      if (score(m, fv.values, null) !== fv.score) moved++;
      compared++;
    }
    assert.ok(compared >= 440, `only ${compared} names compared`);
    assert.ok(moved > compared * 0.8, `the table moved only ${moved} of ${compared} scores`);
  } finally {
    await k.close();
  }
});
