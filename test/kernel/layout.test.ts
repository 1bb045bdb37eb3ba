// The TypeScript mirrors of the kernel's shared structs (services/collector/src/kernel-layout.ts,
// lib/src/model/layout.ts) equal what the compiler laid out in bpf/build/stoq.bpf.o (its BTF), and their
// enums and constants equal the header's.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { FEATURE, FEATURE_SPEC as TS_FEATURE_SPEC } from "../../lib/src/model/features.js";
import { NGRAM_MAX_SHIFT } from "../../lib/src/model/int8-mlp.js";
import { CONTROL_LAYOUT, MODEL_LAYOUT, MODEL_SLOTS, NGRAM_ROW_LAYOUT, NGRAM_SLOT_ROWS } from "../../lib/src/model/layout.js";
import { NGRAM_HASH_MUL, NGRAM_MAX_BITS, NGRAM_MAX_PER_NAME, NGRAM_MIN_BITS, NGRAM_REGION_SUB } from "../../lib/src/model/ngrams.js";
import { BpfObject } from "../../services/collector/src/bpf.js";
import {
  DNS_CAPTURE_MAX,
  DNS_FLAG,
  EVENT_KIND,
  FEATURE_SPEC,
  HOOK,
  KERNEL_LAYOUTS,
  PAYLOAD_MAX,
  PAYLOAD_WHAT,
  SNI_MAX,
  STAT_NAMES,
  STAT_SLOTS,
  TLS_FLAG,
  type StructLayout,
} from "../../services/collector/src/kernel-layout.js";
import { BPF_DIR, STOQ_OBJECT, StoqKernel, buildKernelObjects } from "./kernel.js";

let obj: BpfObject;
const header = readFileSync(`${BPF_DIR}stoq_shared.h`, "utf8");

before(() => {
  buildKernelObjects();
  obj = BpfObject.open(STOQ_OBJECT);
});

after(() => obj.close());

function assertLayout(name: string, mirror: StructLayout): void {
  const btf = obj.btfStruct(name);
  assert.ok(btf, `struct ${name} is not in the object's BTF`);
  assert.equal(btf.size, mirror.size, `sizeof(struct ${name})`);
  assert.deepEqual(
    btf.members.map((m) => m.name),
    Object.keys(mirror.fields),
    `members of struct ${name}, in order`,
  );
  for (const m of btf.members) {
    const f = mirror.fields[m.name]!;
    assert.equal(m.bitfieldBits, 0, `${name}.${m.name} is a bitfield`);
    assert.equal(m.offsetBits, f.offset * 8, `offset of ${name}.${m.name}`);
    assert.equal(m.sizeBytes, f.size, `size of ${name}.${m.name}`);
  }
}

test("every struct of stoq_shared.h has the layout kernel-layout.ts mirrors", () => {
  for (const [name, layout] of Object.entries(KERNEL_LAYOUTS)) assertLayout(name, layout);
});

test("struct stoq_model, stoq_control and stoq_ngram_row have the layout lib/src/model/layout.ts mirrors", () => {
  assertLayout("stoq_model", MODEL_LAYOUT);
  assertLayout("stoq_control", CONTROL_LAYOUT);
  assertLayout("stoq_ngram_row", NGRAM_ROW_LAYOUT);
});

test("the n-gram constants of stoq_model.h equal lib/src/model/ngrams.ts and int8-mlp.ts; the maps are sized by them", async () => {
  const model = readFileSync(`${BPF_DIR}stoq_model.h`, "utf8");
  // Values are numbers (hex allowed, u suffix) or (1 << X) with X a number or another define.
  const def = (name: string): number => {
    const v = new RegExp(`#define ${name}\\s+(\\S+(?: << \\S+)?)`).exec(model)?.[1];
    assert.ok(v, `#define ${name} not found`);
    const shift = /^\(1 << (\w+)\)$/.exec(v);
    if (shift) return 2 ** (/^\d+$/.test(shift[1]!) ? Number(shift[1]) : def(shift[1]!));
    return Number(v.replace(/u$/, ""));
  };
  assert.equal(def("STOQ_NGRAM_MIN_BITS"), NGRAM_MIN_BITS);
  assert.equal(def("STOQ_NGRAM_MAX_BITS"), NGRAM_MAX_BITS);
  assert.equal(def("STOQ_NGRAM_SLOT_ROWS"), NGRAM_SLOT_ROWS);
  assert.equal(def("STOQ_NGRAM_SHIFT_MAX"), NGRAM_MAX_SHIFT);
  assert.equal(def("STOQ_NGRAM_MAX_PER_NAME"), NGRAM_MAX_PER_NAME);
  assert.equal(def("STOQ_NGRAM_HASH_MUL"), NGRAM_HASH_MUL);
  assert.equal(def("STOQ_NGRAM_REGION_SUB"), NGRAM_REGION_SUB * 2 ** 18);
  const k = StoqKernel.open({ bigram: false });
  try {
    const ngrams = k.obj.map("stoq_ngrams");
    assert.equal(ngrams.maxEntries, MODEL_SLOTS * NGRAM_SLOT_ROWS);
    assert.equal(ngrams.valueSize, NGRAM_ROW_LAYOUT.size);
  } finally {
    await k.close();
  }
});

/** The entries of a C enum, in order, as written in the header. */
function enumEntries(src: string, name: string): string[] {
  const body = new RegExp(`enum ${name} \\{([\\s\\S]*?)\\};`).exec(src)?.[1];
  assert.ok(body, `enum ${name} not found`);
  return body
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split(",")
    .map((e) => e.trim().split(/\s|=/)[0]!)
    .filter((e) => e.length > 0);
}

function define(name: string): number {
  const m = new RegExp(`#define ${name}\\s+(\\S+)`).exec(header);
  assert.ok(m, `#define ${name} not found`);
  return Number(m[1]);
}

test("STAT_NAMES lists enum stoq_stat in order", () => {
  const entries = enumEntries(header, "stoq_stat");
  assert.equal(entries.pop(), "STOQ_STAT_MAX");
  assert.deepEqual(
    entries.map((e) => e.replace(/^STOQ_STAT_/, "").toLowerCase()),
    [...STAT_NAMES],
  );
  assert.ok(STAT_NAMES.length <= STAT_SLOTS);
  assert.equal(define("STOQ_STAT_SLOTS"), STAT_SLOTS);
});

test("enum stoq_feature matches feature_spec v1's FEATURE indices", () => {
  const entries = enumEntries(header, "stoq_feature").filter((e) => e !== "STOQ_F_COUNT");
  const ts = Object.entries(FEATURE).sort((a, b) => a[1] - b[1]);
  assert.deepEqual(
    entries.map((e, i) => [e.replace(/^STOQ_F_/, ""), i]),
    ts,
  );
  assert.equal(define("STOQ_FEATURE_SPEC"), FEATURE_SPEC);
  assert.equal(FEATURE_SPEC, TS_FEATURE_SPEC);
});

test("event kinds, flags and capture limits match the header", () => {
  const kinds = enumEntries(header, "stoq_event_kind");
  assert.deepEqual(kinds, ["STOQ_EVENT_DNS", "STOQ_EVENT_TLS_HELLO", "STOQ_EVENT_PAYLOAD", "STOQ_EVENT_DROP"]);
  assert.deepEqual(Object.values(EVENT_KIND), [1, 2, 3, 4]);
  assert.equal(define("STOQ_DNS_F_RESPONSE"), DNS_FLAG.response);
  assert.equal(define("STOQ_DNS_F_TCP"), DNS_FLAG.tcp);
  assert.equal(define("STOQ_DNS_F_THREAT"), DNS_FLAG.threat);
  assert.equal(define("STOQ_DNS_F_SHADOW_THREAT"), DNS_FLAG.shadowThreat);
  assert.equal(define("STOQ_DNS_F_SHADOW"), DNS_FLAG.shadow);
  assert.equal(define("STOQ_TLS_F_SNI"), TLS_FLAG.sni);
  assert.equal(define("STOQ_TLS_F_SPLIT"), TLS_FLAG.split);
  assert.equal(define("STOQ_PAYLOAD_TLS_SERVER"), PAYLOAD_WHAT.tlsServer);
  assert.equal(define("STOQ_PAYLOAD_TLS_CLIENT"), PAYLOAD_WHAT.tlsClient);
  assert.equal(define("STOQ_DNS_CAPTURE_MAX"), DNS_CAPTURE_MAX);
  assert.equal(define("STOQ_SNI_MAX"), SNI_MAX);
  assert.equal(define("STOQ_PAYLOAD_MAX"), PAYLOAD_MAX);
  assert.equal(define("STOQ_HOOK_XDP_INGRESS"), HOOK.xdpIngress);
  assert.equal(define("STOQ_HOOK_TC_EGRESS"), HOOK.tcEgress);
});
