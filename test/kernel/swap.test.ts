// Model swap under load: while DNS queries run through the XDP program on the thread pool, the models are
// swapped thousands of times by the collector's protocol (write the inactive slot with version 0, then
// its n-gram table rows, then the slot with its version, then flip `active`). Every scored query's score
// equals what the model named by its event's version gives for its features and its name's trigrams: no
// packet is ever scored by a mix of two models or two tables.
import assert from "node:assert/strict";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, before, test } from "node:test";
import { FEATURE_COUNT, NAME_FEATURE_COUNT } from "../../lib/src/model/features.js";
import { ngramRowsFor, score, type QuantModel } from "../../lib/src/model/int8-mlp.js";
import { MODE, encodeModel, encodeNgramRows, ngramKeys } from "../../lib/src/model/layout.js";
import { EVENT_KIND, FEATURE_SPEC, STAT, type DnsEvent } from "../../services/collector/src/kernel-layout.js";
import { StoqKernel } from "./kernel.js";
import { buildPacket } from "./packets.js";

let k: StoqKernel;

before(() => {
  k = StoqKernel.open({ maxEntries: { stoq_events: 32 << 20 } });
});

after(async () => {
  await k.close();
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** A model whose score depends on every name feature and its name's trigrams and differs between seeds. */
function model(version: bigint, seed: number, bits = 6 + (seed % 5)): QuantModel {
  let s = seed;
  const next = (): number => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  const nIn = NAME_FEATURE_COUNT;
  const nHidden = 32;
  return {
    version,
    featureSpec: FEATURE_SPEC,
    nIn,
    nHidden,
    hMul: 1 << 12,
    hShift: 20,
    b2: Math.floor(next() * 2000) - 1000,
    threshold: 0,
    inZero: Int32Array.from({ length: nIn }, () => Math.floor(next() * 40) - 20),
    inMul: Int32Array.from({ length: nIn }, () => 1 << (12 + Math.floor(next() * 6))),
    b1: Int32Array.from({ length: nHidden }, () => Math.floor(next() * 20000) - 10000),
    w1: Int8Array.from({ length: nHidden * nIn }, () => Math.floor(next() * 255) - 127),
    w2: Int8Array.from({ length: nHidden }, () => Math.floor(next() * 255) - 127),
    // A new table each model (64 to 1024 rows by default): rows written mid-sum would show as a wrong score.
    ngramBits: bits,
    ngramShift: 4,
    ngram: Int8Array.from({ length: (1 << bits) * nHidden }, () => Math.floor(next() * 256) - 128),
  };
}

/** Every scored event's score is the reference's for the model its version names; returns how many were scored. */
function checkScores(events: DnsEvent[], byVersion: Map<bigint, QuantModel>): { scored: number; versions: Set<bigint> } {
  const versions = new Set<bigint>();
  let scored = 0;
  for (const e of events) {
    if (e.unscored !== 0) {
      // A packet that met a slot mid-rewrite passes unscored, and says why.
      assert.ok(e.unscored === STAT.unscored_no_model || e.unscored === STAT.unscored_model_changed, `unscored: ${e.unscored}`);
      continue;
    }
    const m = byVersion.get(e.modelVersion);
    assert.ok(m, `unknown model version ${e.modelVersion}`);
    assert.equal(e.score, score(m, e.features.subarray(0, FEATURE_COUNT), ngramRowsFor(m, e.msg.subarray(12))), `version ${e.modelVersion}`);
    versions.add(e.modelVersion);
    scored++;
  }
  return { scored, versions };
}

const NAMES = ["www.example.com", "x7k2q9zt1vb8.net", "mail.google.com", "aGVsbG8gd29ybGQ.t.tuns.org", "cdn-42.akamaiedge.net", "a.b.c.d.example.co.uk"];

test("thousands of swaps while packets flow: every score is one model's, never a mix", async () => {
  const models = k.obj.map("stoq_models");
  const control = k.obj.map("stoq_control");
  const byVersion = new Map<bigint, QuantModel>();
  let active = 0;
  let version = 1n;
  const ngrams = k.obj.map("stoq_ngrams");
  const install = (slot: number): void => {
    const m = model(version, Number(version));
    const rows = encodeNgramRows(m);
    byVersion.set(version, m);
    models.update(u32(slot), encodeModel({ ...m, version: 0n }));
    ngrams.updateBatch(ngramKeys(slot, rows.length), rows);
    models.update(u32(slot), encodeModel(m));
    version++;
  };
  install(0);
  k.setControl({ active: 0, mode: MODE.observe, shadow: 0 });

  const frames = NAMES.map((qname, i) => buildPacket({ ipv4: { src: `198.18.9.${i + 1}`, dst: "198.18.0.53" }, udp: { sport: 34000 + i, dport: 53 }, dns: { qname } }));
  // Two runs always in flight on the thread pool, each a frame run 100 times; the swaps go on meanwhile.
  let running = true;
  let runs = 0;
  const lane = async (first: number): Promise<void> => {
    for (let i = first; running; i += 2) {
      await k.program("xdpIngress").testRunAsync({ data: frames[i % frames.length]!, repeat: 100 });
      runs++;
    }
  };
  const load = Promise.all([lane(0), lane(1)]);

  let swaps = 0;
  const started = Date.now();
  while (swaps < 2000 || Date.now() - started < 2000) {
    const inactive = 1 - active;
    install(inactive);
    control.update(u32(0), Buffer.from([inactive, 0, 0, 0, MODE.observe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    active = inactive;
    swaps++;
    await yieldToLoop();
  }
  running = false;
  await load;

  const events = (await k.takeAllEvents()).filter((e): e is DnsEvent => e.kind === EVENT_KIND.dns);
  assert.equal(k.stats("xdpIngress").lost_ringbuf, 0n);
  assert.ok(runs >= 40, `only ${runs} test runs during ${swaps} swaps`);
  const { scored, versions } = checkScores(events, byVersion);
  assert.ok(scored > events.length * 0.9, `${scored} of ${events.length} scored`);
  assert.ok(versions.size > 50, `packets met only ${versions.size} model versions across ${swaps} swaps`);
});

test("a slot rewritten in place while packets read it: never a score from a mix of two tables", async () => {
  // Not the collector's way (it writes the inactive slot, then flips), but the version protocol alone must
  // hold: rows are written between the version-0 and the real-version write, and the kernel rereads the
  // version after summing, passing the packet unscored when it moved.
  const models = k.obj.map("stoq_models");
  const ngrams = k.obj.map("stoq_ngrams");
  const byVersion = new Map<bigint, QuantModel>();
  let version = 100_000n;
  const rewrite = (): void => {
    const m = model(version, Number(version % 1000n), 12);
    const rows = encodeNgramRows(m);
    byVersion.set(version, m);
    models.update(u32(0), encodeModel({ ...m, version: 0n }));
    ngrams.updateBatch(ngramKeys(0, rows.length), rows);
    models.update(u32(0), encodeModel(m));
    version++;
  };
  rewrite();
  k.setControl({ active: 0, mode: MODE.observe, shadow: 0 });
  // A long name: ~190 trigrams to sum. Sums that straddle the version-0 write are rare here (~1 in 30k:
  // test/kernel/score.test.ts forces one through the harness); most packets that meet a rewrite see
  // version 0 and pass unscored.
  const long = [..."abcdefgh"].map((c) => c.repeat(60)).slice(0, 3).join(".") + ".tunnel.example.org";
  const frame = buildPacket({ ipv4: { src: "198.18.9.99", dst: "198.18.0.53" }, udp: { sport: 34099, dport: 53 }, dns: { qname: long } });
  let running = true;
  const lane = async (): Promise<void> => {
    while (running) await k.program("xdpIngress").testRunAsync({ data: frame, repeat: 200 });
  };
  const load = Promise.all([lane(), lane()]);
  const started = Date.now();
  let rewrites = 0;
  while (rewrites < 300 || Date.now() - started < 2000) {
    rewrite();
    rewrites++;
    await yieldToLoop();
  }
  running = false;
  await load;
  const events = (await k.takeAllEvents()).filter((e): e is DnsEvent => e.kind === EVENT_KIND.dns);
  assert.equal(k.stats("xdpIngress").lost_ringbuf, 0n);
  const { scored } = checkScores(events, byVersion);
  const unscored = events.filter((e) => e.unscored !== 0).length;
  assert.ok(scored > events.length / 2, `${scored} of ${events.length} scored`);
  assert.ok(unscored > 0, "no packet met a slot mid-rewrite: the test did not exercise the protocol");
});
