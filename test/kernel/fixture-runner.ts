// Runs the packet fixtures of test/fixtures/packets/ (data: description, frames, expected verdicts, counters,
// events and flows) through the kernel programs and checks every expectation, plus the invariants that
// hold for every DNS event: its name features equal the TypeScript reference's and its score the model's.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadBigramTable } from "../../lib/src/model/bigram.js";
import { FEATURE, NAME_FEATURE_COUNT, isAddrQtype, isTunnelQtype, nameFeatures } from "../../lib/src/model/features.js";
import { ngramRowsFor, score, type QuantModel } from "../../lib/src/model/int8-mlp.js";
import { MODE } from "../../lib/src/model/layout.js";
import {
  DNS_FLAG,
  EVENT_KIND,
  FEATURE_SPEC,
  PAYLOAD_WHAT,
  STAT,
  STAT_NAMES,
  TLS_FLAG,
  type KernelEvent,
  type StatName,
} from "../../services/collector/src/kernel-layout.js";
import { TC_ACT_OK, XDP_DROP, XDP_PASS, type Hook, type RunResult, type StoqKernel } from "./kernel.js";
import { buildPacketLayers, type Layers, type PacketSpec } from "./packets.js";

export const FIXTURE_DIR = fileURLToPath(new URL("../fixtures/packets/", import.meta.url));

export interface FixturePacket {
  build?: PacketSpec;
  hex?: string;
}

export interface ExpectedEvent {
  kind: "dns" | "tlsHello" | "payload" | "drop";
  [field: string]: unknown;
}

export interface ExpectedFlow {
  [field: string]: unknown;
}

export interface Fixture {
  name: string;
  description: string;
  hook?: Hook;
  truncate?: boolean;
  setup?: {
    bigram?: boolean;
    models?: { slot: number; kind: "threat" | "benign"; version: number; featureSpec?: number }[];
    control?: { active: number; mode: keyof typeof MODE; shadow: number };
  };
  packets: FixturePacket[];
  expect: {
    verdicts: ("pass" | "drop")[];
    stats?: Partial<Record<StatName, number>>;
    /** The err_* counters that must move (all others must not); absent: not checked. */
    errors?: StatName[];
    events?: ExpectedEvent[];
    flows?: ExpectedFlow[];
  };
}

export function loadFixtures(): { file: string; fixtures: Fixture[] }[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, fixtures: (JSON.parse(readFileSync(`${FIXTURE_DIR}${file}`, "utf8")) as { fixtures: Fixture[] }).fixtures }));
}

export function framesOf(fx: Fixture): { frame: Buffer; layers: Layers | null; spec: PacketSpec | null }[] {
  return fx.packets.map((p) => {
    if (p.hex !== undefined) return { frame: Buffer.from(p.hex, "hex"), layers: null, spec: null };
    const { frame, layers } = buildPacketLayers(p.build ?? {});
    return { frame, layers, spec: p.build ?? null };
  });
}

/** The models the fixtures name: outputs 10 ("threat") or 0 ("benign") whatever the input, threshold 5. */
export function fixtureModel(kind: "threat" | "benign", version: bigint, featureSpec = FEATURE_SPEC): QuantModel {
  return {
    version,
    featureSpec,
    nIn: 16,
    nHidden: 1,
    hMul: 1,
    hShift: 1,
    b2: kind === "threat" ? 10 : 0,
    threshold: 5,
    inZero: new Int32Array(16),
    inMul: new Int32Array(16),
    b1: new Int32Array(1),
    w1: new Int8Array(16),
    w2: new Int8Array(1),
    ngramBits: 0,
    ngramShift: 0,
    ngram: new Int8Array(0),
  };
}

/** The dotted form of a wire name (labels as latin1). */
export function dottedName(wire: Buffer): string {
  const labels: string[] = [];
  for (let i = 0; i < wire.length && wire[i] !== 0; i += 1 + wire[i]!) labels.push(wire.subarray(i + 1, i + 1 + wire[i]!).toString("latin1"));
  return labels.join(".");
}

const bigram = loadBigramTable();

/** Invariants of every DNS event: name and packet features equal the TS reference, score equals the model's. */
export function checkDnsEventInvariants(e: KernelEvent, models: Map<bigint, QuantModel>, where: string): void {
  if (e.kind !== EVENT_KIND.dns) return;
  const response = (e.flags & DNS_FLAG.response) !== 0;
  if (response || e.labels === 0 || e.unscored === STAT.unscored_no_tables || e.unscored === STAT.unscored_opcode) return;
  const ref = nameFeatures(e.msg.subarray(12), bigram);
  assert.ok(ref, `${where}: the reference refuses a name the kernel walked`);
  assert.deepEqual(Array.from(e.features.subarray(0, NAME_FEATURE_COUNT)), Array.from(ref), `${where}: name features`);
  assert.equal(e.features[FEATURE.QTYPE_ADDR], isAddrQtype(e.qtype) ? 1 : 0, `${where}: QTYPE_ADDR`);
  assert.equal(e.features[FEATURE.QTYPE_TUNNEL], isTunnelQtype(e.qtype) ? 1 : 0, `${where}: QTYPE_TUNNEL`);
  assert.equal(e.features[FEATURE.QUERY_SIZE], Math.min(e.msgLen, 65535), `${where}: QUERY_SIZE`);
  if (e.unscored === 0) {
    const m = models.get(e.modelVersion);
    assert.ok(m, `${where}: scored by an unknown model version ${e.modelVersion}`);
    assert.equal(e.score, score(m, e.features, ngramRowsFor(m, e.msg.subarray(12))), `${where}: score`);
  }
}

function flagNames(flags: number, table: Record<string, number>): string[] {
  return Object.entries(table)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([n]) => n);
}

/** The event as the fixtures spell it: names instead of codes, the qname and rcode decoded. */
function eventView(e: KernelEvent): Record<string, unknown> {
  const base = { ...e.tuple };
  switch (e.kind) {
    case EVENT_KIND.dns:
      return {
        ...base,
        kind: "dns",
        id: e.id,
        qname: e.qnameLen ? dottedName(e.msg.subarray(12, 12 + e.qnameLen)) : null,
        qtype: e.qtype,
        qclass: e.qclass,
        qnameLen: e.qnameLen,
        labels: e.labels,
        msgLen: e.msgLen,
        captured: e.msg.length,
        ancount: e.ancount,
        rcode: e.hdrFlags & 0xf,
        flags: flagNames(e.flags, DNS_FLAG),
        verdict: e.verdict === 1 ? "drop" : "pass",
        unscored: e.unscored === 0 ? null : STAT_NAMES[e.unscored],
        modelVersion: Number(e.modelVersion),
        shadowVersion: Number(e.shadowVersion),
        score: e.score,
        shadowScore: e.shadowScore,
        threshold: e.threshold,
        features: Object.fromEntries(Object.entries(FEATURE).map(([n, i]) => [n, e.features[i]])),
      };
    case EVENT_KIND.tlsHello:
      return { ...base, kind: "tlsHello", sni: e.sni, tlsFlags: flagNames(e.flags, TLS_FLAG), helloVersion: e.helloVersion, recordVersion: e.recordVersion, seq: e.seq };
    case EVENT_KIND.payload:
      return { ...base, kind: "payload", what: Object.entries(PAYLOAD_WHAT).find(([, v]) => v === e.what)?.[0], seq: e.seq, len: e.len };
    case EVENT_KIND.drop:
      return { ...base, kind: "drop", modelVersion: Number(e.modelVersion), score: e.score, threshold: e.threshold };
  }
}

function assertSubset(actual: Record<string, unknown>, expected: Record<string, unknown>, where: string): void {
  for (const [k, v] of Object.entries(expected)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      assertSubset(actual[k] as Record<string, unknown>, v as Record<string, unknown>, `${where}.${k}`);
    } else if (Array.isArray(v) && (k === "flags" || k === "tlsFlags")) {
      assert.deepEqual([...(actual[k] as string[])].sort(), [...(v as string[])].sort(), `${where}.${k}`);
    } else {
      assert.deepEqual(actual[k], v, `${where}.${k}`);
    }
  }
}

export interface FixtureRun {
  results: RunResult[];
  events: KernelEvent[];
  delta: Partial<Record<StatName, bigint>>;
}

/** Applies the fixture's setup, runs its frames on a reset kernel, and undoes the setup. */
export async function runFixture(k: StoqKernel, fx: Fixture, hook: Hook = fx.hook ?? "xdpIngress"): Promise<FixtureRun> {
  k.reset();
  const models = fx.setup?.models ?? [];
  for (const m of models) k.setModel(m.slot, fixtureModel(m.kind, BigInt(m.version), m.featureSpec));
  if (fx.setup?.control) k.setControl({ ...fx.setup.control, mode: MODE[fx.setup.control.mode] });
  if (fx.setup?.bigram === false) k.obj.map("stoq_bigrams").update(Buffer.alloc(4), Buffer.alloc(k.obj.map("stoq_bigrams").valueSize));
  try {
    const results: RunResult[] = [];
    for (const { frame } of framesOf(fx)) results.push(await k.runCollect(hook, frame));
    const delta: Partial<Record<StatName, bigint>> = {};
    for (const r of results) for (const [n, v] of Object.entries(r.delta) as [StatName, bigint][]) delta[n] = (delta[n] ?? 0n) + v;
    return { results, events: results.flatMap((r) => r.events), delta };
  } finally {
    for (const m of models) k.clearModel(m.slot);
    k.setControl({ active: 0, mode: MODE.observe, shadow: 0 });
    if (fx.setup?.bigram === false) k.loadBigram();
  }
}

export function checkFixture(k: StoqKernel, fx: Fixture, run: FixtureRun, hook: Hook = fx.hook ?? "xdpIngress"): void {
  const e = fx.expect;
  const retval = { pass: hook === "xdpIngress" ? XDP_PASS : TC_ACT_OK, drop: hook === "xdpIngress" ? XDP_DROP : TC_ACT_OK };
  assert.deepEqual(
    run.results.map((r) => r.retval),
    e.verdicts.map((v) => retval[v]),
    "verdicts",
  );
  for (const [n, v] of Object.entries(e.stats ?? {})) assert.equal(run.delta[n as StatName] ?? 0n, BigInt(v), `counter ${n}`);
  if (e.errors) {
    const moved = STAT_NAMES.filter((n) => n.startsWith("err_") && (run.delta[n] ?? 0n) !== 0n);
    assert.deepEqual(moved.sort(), [...e.errors].sort(), "err_* counters that moved");
  }
  if (e.events) {
    assert.equal(run.events.length, e.events.length, `events: ${JSON.stringify(run.events.map((x) => eventView(x).kind))}`);
    e.events.forEach((exp, i) => assertSubset(eventView(run.events[i]!), exp, `event ${i}`));
  }
  const models = new Map((fx.setup?.models ?? []).map((m) => [BigInt(m.version), fixtureModel(m.kind, BigInt(m.version), m.featureSpec)]));
  run.events.forEach((ev, i) => checkDnsEventInvariants(ev, models, `event ${i}`));
  if (e.flows) {
    const flows = k.flows();
    assert.equal(flows.length, e.flows.length, "flows");
    for (const exp of e.flows) {
      const f = flows.find((x) => x.addrA === exp.addrA && x.addrB === exp.addrB);
      assert.ok(f, `flow ${String(exp.addrA)} <-> ${String(exp.addrB)}`);
      const view: Record<string, unknown> = {
        ...f,
        packets: f.dir.map((d) => Number(d.packets)),
        bytes: f.dir.map((d) => Number(d.bytes)),
        tcpFlags: f.dir.map((d) => d.tcpFlags),
        retrans: f.dir.map((d) => d.retrans),
        tlsCapture: f.dir.map((d) => d.tlsCapture),
      };
      assertSubset(view, exp, `flow ${f.addrA} <-> ${f.addrB}`);
    }
  }
}
