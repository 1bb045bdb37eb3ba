// Loading XDP mode's kernel side: maps pinned for operators while running, XDP and TC attached to a
// veth, and everything (links, pins, the directories made for them) gone after close, also when
// attaching failed half-way through start-up.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmdirSync } from "node:fs";
import { after, test } from "node:test";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { decodeControl, MODE } from "../../../lib/src/model/layout.js";
import { buildKernelObjects } from "../../../test/kernel/kernel.js";
import { BpfError, openPinnedMap } from "../src/bpf.js";
import { KernelDataPath, type KernelLoadOptions } from "../src/kernel-loader.js";
import { SMALL_TABLES } from "./xdp-harness.js";

const ROOT = `/sys/fs/bpf/stoq-test-${process.pid}`;
const IF_A = `stl${process.pid}a`;
const IF_B = `stl${process.pid}b`;

buildKernelObjects();
after(() => {
  spawnSync("ip", ["link", "del", IF_A]);
  spawnSync("rm", ["-rf", ROOT]);
});

/** Every BPF link of the host with its program's name (this bpftool names TCX links only by type number). */
function links(): { id: number; prog: string }[] {
  const all = JSON.parse(execFileSync("bpftool", ["-j", "link", "show"], { encoding: "utf8" })) as { id: number; prog_id: number }[];
  return all.map((l) => {
    const r = spawnSync("bpftool", ["-j", "prog", "show", "id", String(l.prog_id)], { encoding: "utf8" });
    return { id: l.id, prog: r.status === 0 ? (JSON.parse(r.stdout) as { name: string }).name : "" };
  });
}

function options(o: Partial<KernelLoadOptions>): KernelLoadOptions {
  return { interface: null, xdpMode: "native", ringBufferBytes: 1 << 16, flowsMax: 256, bigram: loadBigramTable(), pinDir: null, maxEntries: SMALL_TABLES, ...o };
}

test("maps are pinned under the pin directory while loaded; close removes the pins and the directories it made", () => {
  const dir = `${ROOT}/nested/eth-x`;
  const k = KernelDataPath.load(options({ pinDir: dir }));
  try {
    const pinned = readdirSync(dir).sort();
    assert.ok(pinned.includes("stoq_stats") && pinned.includes("stoq_models") && pinned.includes("stoq_flows4"), pinned.join(","));
    assert.ok(pinned.every((n) => n.startsWith("stoq_")));
    const control = openPinnedMap(`${dir}/stoq_control`);
    assert.equal(decodeControl(control.lookup(Buffer.alloc(4))!).mode, MODE.observe);
    control.close();
    assert.equal(k.map("stoq_events").maxEntries, 1 << 16, "ring sized from the config");
  } finally {
    k.close();
  }
  assert.equal(existsSync(ROOT), false, "pins and the directories made for them are gone");
});

test("pins left by a collector that died are replaced, and the new ones removed on close", () => {
  const dir = `${ROOT}/stale`;
  // A crashed collector: its pins outlive it (a pin keeps its map alive without any process).
  const dead = KernelDataPath.load(options({}));
  mkdirSync(dir, { recursive: true });
  dead.map("stoq_stats").pin(`${dir}/stoq_stats`);
  dead.map("stoq_control").pin(`${dir}/stoq_control`);
  dead.obj.close();
  const k = KernelDataPath.load(options({ pinDir: dir }));
  try {
    assert.equal(k.replacedPins, 2);
    assert.ok(existsSync(`${dir}/stoq_stats`));
  } finally {
    k.close();
  }
  assert.equal(existsSync(`${dir}/stoq_stats`), false);
  rmdirSync(dir);
  rmdirSync(ROOT);
});

function ensureVeth(): void {
  if (spawnSync("ip", ["link", "show", IF_A]).status === 0) return;
  execFileSync("ip", ["link", "add", IF_A, "type", "veth", "peer", "name", IF_B]);
  execFileSync("ip", ["link", "set", IF_A, "up"]);
  execFileSync("ip", ["link", "set", IF_B, "up"]);
}

test("XDP and TC attach to a veth and are detached by close", () => {
  ensureVeth();
  const before = new Set(links().map((l) => l.id));
  const k = KernelDataPath.load(options({ interface: IF_A }));
  let ours: number[];
  try {
    assert.deepEqual(k.links, [`stoq_xdp_ingress on ${IF_A} (xdp native)`, `stoq_tc_egress on ${IF_A} (tc egress, tcx)`]);
    assert.match(execFileSync("ip", ["link", "show", IF_A], { encoding: "utf8" }), /prog\/xdp/);
    ours = links().filter((l) => !before.has(l.id) && /^stoq_(xdp_ingress|tc_egress)$/.test(l.prog)).map((l) => l.id);
    assert.equal(ours.length, 2, "an XDP and a TCX link");
  } finally {
    k.close();
  }
  assert.doesNotMatch(execFileSync("ip", ["link", "show", IF_A], { encoding: "utf8" }), /prog\/xdp/);
  const left = new Set(links().map((l) => l.id));
  assert.deepEqual(ours.filter((id) => left.has(id)), [], "both links are gone");
});

test("a start-up that fails half-way (pins on a filesystem that is not bpffs) detaches and removes what it made", () => {
  ensureVeth();
  const notBpffs = `/tmp/stoq-not-bpffs-${process.pid}`;
  assert.throws(() => KernelDataPath.load(options({ interface: IF_A, pinDir: `${notBpffs}/x` })), (e: unknown) => e instanceof BpfError);
  assert.doesNotMatch(execFileSync("ip", ["link", "show", IF_A], { encoding: "utf8" }), /prog\/xdp/, "the XDP link attached before the failure is gone");
  assert.equal(existsSync(notBpffs), false, "the directories made for the pins are gone");
});

test("a missing object says how to build it", () => {
  assert.throws(
    () => KernelDataPath.load(options({ objectPath: "/nonexistent/stoq.bpf.o" })),
    (e: unknown) => e instanceof BpfError && /make -C bpf/.test(e.hint),
  );
});
