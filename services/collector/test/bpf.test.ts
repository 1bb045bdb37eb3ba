// The libbpf addon against the real kernel (run as root): loading, test runs, maps, pins, BTF, verifier
// errors, the ring-buffer consumer, and XDP/TC on a veth pair with packets sent from a network namespace.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { BpfError, BpfObject, RingBufferConsumer, openPinnedMap, type BpfMap } from "../src/bpf.js";

const FIXTURES = fileURLToPath(new URL("fixtures/bpf/build/", import.meta.url));
const PROBE = `${FIXTURES}addon_probe.bpf.o`;
const REJECT = `${FIXTURES}addon_reject.bpf.o`;
const PINNED = `${FIXTURES}addon_pinned.bpf.o`;
const BPF_SRC = fileURLToPath(new URL("../src/bpf.ts", import.meta.url));
const { EACCES, EEXIST, ENOENT, ENODEV, E2BIG, EINVAL, ERANGE, EPERM, EBUSY } = constants.errno;

const XDP_DROP = 1;
const XDP_PASS = 2;
// enum probe_stat and struct probe_event of addon_probe.bpf.c; the BTF test below pins these offsets.
const STAT = { xdpPackets: 0, xdpBytes: 1, rbFailed: 2, tcPackets: 3 } as const;
const EV = { size: 48, seq: 0, ifindex: 8, len: 12, kind: 14, head: 16 } as const;
const KIND_XDP = 1;
const KIND_TC = 2;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function ip4(addr: string): Buffer {
  return Buffer.from(addr.split(".").map(Number));
}

/** Ethernet + IPv4 + UDP, `size` bytes in all. */
function udpPacket(src: string, dst: string, size = 64): Buffer {
  const p = Buffer.alloc(size);
  p.writeUInt16BE(0x0800, 12);
  p[14] = 0x45;
  p.writeUInt16BE(size - 14, 16);
  p[22] = 64;
  p[23] = 17;
  ip4(src).copy(p, 26);
  ip4(dst).copy(p, 30);
  p.writeUInt16BE(40000, 34);
  p.writeUInt16BE(9, 36);
  p.writeUInt16BE(size - 34, 38);
  return p;
}

function hitsOf(map: BpfMap, saddr: string): { packets: bigint; bytes: bigint } | null {
  const v = map.lookup(ip4(saddr));
  return v && { packets: v.readBigUInt64LE(0), bytes: v.readBigUInt64LE(8) };
}

function statSum(obj: BpfObject, slot: number): bigint {
  const perCpu = obj.map("stats").lookupPerCpu(u32(slot));
  assert.ok(perCpu);
  return perCpu.reduce((s, v) => s + v.readBigUInt64LE(0), 0n);
}

function openProbe(rodata: Record<string, number | bigint> = {}): BpfObject {
  const obj = BpfObject.open(PROBE, { rodata });
  obj.load();
  return obj;
}

function expectBpfError(fn: () => unknown, errno: number, check?: (e: BpfError) => void): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BpfError, `expected a BpfError, got ${String(e)}`);
    assert.equal(e.code, "BPF_FAILED");
    assert.equal(e.errno, errno, `errno ${e.errnoName}: ${e.message}`);
    check?.(e);
    return true;
  });
}

/** Resolves once `cond` holds, polling the event loop; fails after timeoutMs. */
async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

test("open, rodata, load and testRun: verdict, hash and per-CPU counters, one event per run", async (t) => {
  const obj = openProbe({ xdp_verdict: XDP_DROP, seq_base: 1n << 40n });
  t.after(() => obj.close());
  assert.deepEqual(obj.programs().sort(), ["probe_tc", "probe_xdp"]);
  assert.deepEqual(obj.maps().sort(), ["events", "hits", "layout_sample", "stats"]);
  const xdp = obj.program("probe_xdp");
  assert.equal(xdp.type, "xdp");
  assert.ok(xdp.fd > 0);

  const events: Buffer[] = [];
  const rb = new RingBufferConsumer(obj.map("events"), (batch) => events.push(...batch));
  const pkt = udpPacket("198.18.0.2", "198.18.0.1", 100);
  const r = xdp.testRun({ data: pkt, repeat: 7 });
  assert.equal(r.retval, XDP_DROP);
  assert.deepEqual(r.dataOut, pkt);
  assert.ok(r.durationNs > 0);

  assert.deepEqual(hitsOf(obj.map("hits"), "198.18.0.2"), { packets: 7n, bytes: 700n });
  assert.equal(statSum(obj, STAT.xdpPackets), 7n);
  assert.equal(statSum(obj, STAT.xdpBytes), 700n);
  assert.equal(statSum(obj, STAT.rbFailed), 0n);

  await rb.close();
  assert.equal(events.length, 7);
  events.forEach((e, i) => {
    assert.equal(e.length, EV.size);
    assert.equal(e.readBigUInt64LE(EV.seq), (1n << 40n) + BigInt(i));
    assert.equal(e.readUInt16LE(EV.len), 100);
    assert.equal(e[EV.kind], KIND_XDP);
    assert.deepEqual(e.subarray(EV.head, EV.head + 32), pkt.subarray(0, 32));
  });
  assert.deepEqual(rb.stats().events, 7);
  assert.equal(obj.map(".bss").lookup(u32(0))?.readBigUInt64LE(0), 7n, "the program's global `emitted`");

  const tc = obj.program("probe_tc");
  assert.equal(tc.type, "sched_cls");
  assert.equal(tc.testRun({ data: pkt }).retval, 0);
  assert.equal(statSum(obj, STAT.tcPackets), 1n);
});

test("rodata: default, wrong name and out-of-range values", (t) => {
  const obj = openProbe();
  t.after(() => obj.close());
  assert.equal(obj.program("probe_xdp").testRun({ data: udpPacket("198.18.0.2", "198.18.0.1") }).retval, XDP_PASS);

  expectBpfError(() => BpfObject.open(PROBE, { rodata: { no_such_knob: 1 } }), ENOENT, (e) => {
    assert.match(e.message, /known: .*xdp_verdict/);
  });
  expectBpfError(() => BpfObject.open(PROBE, { rodata: { emit_events: 256 } }), ERANGE);
  expectBpfError(() => BpfObject.open(PROBE, { rodata: { xdp_verdict: 2 ** 32 } }), ERANGE);
  expectBpfError(() => BpfObject.open(PROBE, { rodata: { xdp_verdict: 1.5 } }), EINVAL);
  expectBpfError(() => BpfObject.open(`${FIXTURES}missing.bpf.o`), ENOENT, (e) => assert.match(e.hint, /path/));
  expectBpfError(() => obj.program("nope"), EINVAL, (e) => assert.match(e.message, /probe_xdp/));
});

test("maxEntries is applied before load", (t) => {
  const obj = BpfObject.open(PROBE, { maxEntries: { hits: 16 } });
  t.after(() => obj.close());
  obj.load();
  assert.equal(obj.map("hits").maxEntries, 16);
});

test("map CRUD: lookup, update flags, delete, keys, sizes checked, full map", (t) => {
  const obj = openProbe();
  t.after(() => obj.close());
  const hits = obj.map("hits");
  assert.equal(hits.type, "hash");
  assert.equal(hits.keySize, 4);
  assert.equal(hits.valueSize, 16);
  assert.equal(hits.maxEntries, 1024);

  const v = Buffer.alloc(16);
  v.writeBigUInt64LE(5n, 0);
  assert.equal(hits.lookup(u32(1)), null);
  hits.update(u32(1), v, "noexist");
  assert.deepEqual(hits.lookup(u32(1)), v);
  expectBpfError(() => hits.update(u32(1), v, "noexist"), EEXIST, (e) => assert.match(e.hint, /exists/));
  expectBpfError(() => hits.update(u32(2), v, "exist"), ENOENT, (e) => assert.match(e.hint, /does not exist/));
  v.writeBigUInt64LE(6n, 0);
  hits.update(u32(1), v, "exist");
  assert.equal(hits.lookup(u32(1))?.readBigUInt64LE(0), 6n);
  hits.update(u32(2), v);
  assert.deepEqual([...hits.keys()].map((k) => k.readUInt32LE(0)).sort(), [1, 2]);
  assert.equal(hits.delete(u32(1)), true);
  assert.equal(hits.delete(u32(1)), false);
  expectBpfError(() => hits.lookup(Buffer.alloc(3)), EINVAL, (e) => assert.match(e.message, /3 bytes/));
  expectBpfError(() => hits.update(u32(3), Buffer.alloc(8)), EINVAL);

  const room = hits.maxEntries - hits.lookupBatch().keys.length;
  hits.updateBatch(Array.from({ length: room }, (_, i) => u32(1000 + i)), new Array<Buffer>(room).fill(v));
  expectBpfError(() => hits.update(u32(99), v), E2BIG, (e) => assert.match(e.hint, /map is full/));
});

test("batch operations: update, lookup (all and bounded), lookup-and-delete, delete", (t) => {
  const obj = openProbe();
  t.after(() => obj.close());
  const hits = obj.map("hits");
  const keys = Array.from({ length: 300 }, (_, i) => u32(i * 7 + 1));
  const values = keys.map((k) => {
    const v = Buffer.alloc(16);
    v.writeBigUInt64LE(BigInt(k.readUInt32LE(0)) * 3n, 0);
    v.writeBigUInt64LE(42n, 8);
    return v;
  });
  hits.updateBatch(keys, values);

  const all = hits.lookupBatch();
  assert.equal(all.keys.length, 300);
  const seen = new Map(all.keys.map((k, i) => [k.readUInt32LE(0), all.values[i]]));
  for (const k of keys) assert.equal(seen.get(k.readUInt32LE(0))?.readBigUInt64LE(0), BigInt(k.readUInt32LE(0)) * 3n);

  const some = hits.lookupBatch(10);
  assert.ok(some.keys.length >= 10 && some.keys.length <= 74, `${some.keys.length} entries`);

  hits.deleteBatch(keys.slice(0, 100));
  assert.equal(hits.lookupBatch().keys.length, 200);
  expectBpfError(() => hits.deleteBatch([keys[0] ?? u32(0)]), ENOENT);

  const drained = hits.lookupAndDeleteBatch();
  assert.equal(drained.keys.length, 200);
  assert.deepEqual(new Set(drained.keys.map((k) => k.readUInt32LE(0))), new Set(keys.slice(100).map((k) => k.readUInt32LE(0))));
  assert.equal(hits.lookupBatch().keys.length, 0);
});

test("per-CPU array: one value per possible CPU, split, replicated and explicit updates", (t) => {
  const obj = openProbe();
  t.after(() => obj.close());
  const stats = obj.map("stats");
  assert.equal(stats.type, "percpu_array");
  assert.ok(stats.perCpu);
  assert.ok(stats.nCpus >= 1);
  obj.program("probe_xdp").testRun({ data: udpPacket("198.18.0.2", "198.18.0.1"), repeat: 9 });
  const perCpu = stats.lookupPerCpu(u32(STAT.xdpPackets));
  assert.equal(perCpu?.length, stats.nCpus);
  assert.equal(perCpu?.reduce((s, v) => s + v.readBigUInt64LE(0), 0n), 9n);
  expectBpfError(() => stats.lookup(u32(0)), EINVAL, (e) => assert.match(e.message, /lookupPerCpu/));

  const eight = Buffer.alloc(8);
  eight.writeBigUInt64LE(8n);
  stats.update(u32(STAT.xdpPackets), eight);
  assert.equal(statSum(obj, STAT.xdpPackets), 8n * BigInt(stats.nCpus));
  stats.updatePerCpu(u32(STAT.xdpPackets), Array.from({ length: stats.nCpus }, (_, cpu) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(cpu + 1));
    return b;
  }));
  assert.deepEqual(stats.lookupPerCpu(u32(STAT.xdpPackets))?.map((v) => v.readBigUInt64LE(0)),
    Array.from({ length: stats.nCpus }, (_, cpu) => BigInt(cpu + 1)));
  const batch = stats.lookupBatch();
  assert.equal(batch.keys.length, 4);
  assert.equal(stats.splitPerCpu(batch.values[STAT.xdpPackets] ?? Buffer.alloc(0))[0]?.readBigUInt64LE(0), 1n);
});

test("pin and unpin a map and a program under /sys/fs/bpf, reopen the pinned map", (t) => {
  const dir = `/sys/fs/bpf/stoq-test-${process.pid}`;
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const obj = openProbe();
  t.after(() => obj.close());
  const hits = obj.map("hits");
  hits.pin(`${dir}/hits`);
  obj.program("probe_xdp").pin(`${dir}/probe_xdp`);
  expectBpfError(() => hits.pin(`${dir}/hits`), EEXIST, (e) => assert.match(e.hint, /unpin/));

  const pinned = openPinnedMap(`${dir}/hits`);
  assert.equal(pinned.type, "hash");
  assert.equal(pinned.keySize, 4);
  pinned.update(u32(77), Buffer.alloc(16, 1));
  assert.deepEqual(hits.lookup(u32(77)), Buffer.alloc(16, 1));
  pinned.close();

  expectBpfError(() => openPinnedMap(`${dir}/probe_xdp`), EINVAL, (e) => assert.match(e.message, /not a map/));
  expectBpfError(() => hits.pin(`/tmp/stoq-not-bpffs-${process.pid}`), EINVAL, (e) => assert.match(e.hint, /bpffs/));

  hits.unpin(`${dir}/hits`);
  obj.program("probe_xdp").unpin(`${dir}/probe_xdp`);
  expectBpfError(() => openPinnedMap(`${dir}/hits`), ENOENT, (e) => assert.match(e.hint, /pinned/));
  assert.equal(hits.lookup(u32(77))?.length, 16, "the map outlives its pin while the object holds it");
});

test("pinRoot: a map pinned by name is reused by the next load under the same root", (t) => {
  const root = `/sys/fs/bpf/stoq-test-${process.pid}-root`;
  t.after(() => rmSync(root, { recursive: true, force: true }));
  execFileSync("mkdir", ["-p", root]);
  const first = BpfObject.open(PINNED, { pinRoot: root });
  first.load();
  first.program("pinned_xdp").testRun({ data: udpPacket("198.18.0.2", "198.18.0.1"), repeat: 3 });
  first.close();
  const second = BpfObject.open(PINNED, { pinRoot: root });
  t.after(() => second.close());
  second.load();
  second.program("pinned_xdp").testRun({ data: udpPacket("198.18.0.2", "198.18.0.1"), repeat: 2 });
  assert.equal(second.map("kept").lookup(u32(0))?.readBigUInt64LE(0), 5n);
  const reopened = openPinnedMap(`${root}/kept`);
  assert.equal(reopened.lookup(u32(0))?.readBigUInt64LE(0), 5n);
  reopened.close();
  expectBpfError(() => reopened.lookup(u32(0)), constants.errno.EBADF);
});

test("BTF: struct layouts as the compiler laid them out", (t) => {
  const obj = BpfObject.open(PROBE);
  t.after(() => obj.close());
  const layout = obj.btfStruct("probe_layout");
  assert.deepEqual(layout, {
    name: "probe_layout",
    size: 40,
    members: [
      { name: "tag", offsetBits: 0, sizeBytes: 1, bitfieldBits: 0, type: "__u8" },
      { name: "count", offsetBits: 32, sizeBytes: 4, bitfieldBits: 0, type: "__u32" },
      { name: "total", offsetBits: 64, sizeBytes: 8, bitfieldBits: 0, type: "__u64" },
      { name: "port", offsetBits: 128, sizeBytes: 2, bitfieldBits: 0, type: "__u16" },
      { name: "addr", offsetBits: 144, sizeBytes: 6, bitfieldBits: 0, type: "__u8[6]" },
      { name: "pair", offsetBits: 192, sizeBytes: 8, bitfieldBits: 0, type: "struct <anon>" },
      { name: "flags", offsetBits: 256, sizeBytes: 4, bitfieldBits: 3, type: "__u32" },
      { name: "rest", offsetBits: 259, sizeBytes: 4, bitfieldBits: 29, type: "__u32" },
    ],
  });
  const ev = obj.btfStruct("probe_event");
  assert.equal(ev?.size, EV.size);
  const at = Object.fromEntries(ev?.members.map((m) => [m.name, m.offsetBits / 8]) ?? []);
  assert.deepEqual(at, { seq: EV.seq, ifindex: EV.ifindex, len: EV.len, kind: EV.kind, pad: 15, head: EV.head });
  assert.equal(ev?.members.find((m) => m.name === "head")?.type, "__u8[32]");
  assert.equal(obj.btfStruct("no_such_struct"), null);
});

test("a verifier rejection is a BpfError with errno, program and the log tail", () => {
  const obj = BpfObject.open(REJECT);
  try {
    expectBpfError(() => obj.load(), EACCES, (e) => {
      assert.equal(e.operation, "bpf_object__load");
      assert.equal(e.program, "reject_xdp");
      assert.match(e.verifierLog ?? "", /invalid access to packet/);
      assert.match(e.message, /verifier log \(last \d+ lines\):[\s\S]*invalid access to packet/);
      assert.match(e.hint, /verifier rejected program 'reject_xdp'/);
    });
  } finally {
    obj.close();
  }
});

test("without privileges the error says which capabilities are missing", () => {
  const script = `
    import { BpfObject } from ${JSON.stringify(BPF_SRC)};
    try { BpfObject.open(${JSON.stringify(PROBE)}).load(); console.log("loaded"); }
    catch (e) { console.log(JSON.stringify({ errno: e.errno, hint: e.hint, code: e.code })); }`;
  const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
    process.execPath, "--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { errno: number; hint: string; code: string };
  assert.equal(out.code, "BPF_FAILED");
  assert.equal(out.errno, EPERM);
  assert.match(out.hint, /CAP_BPF/);
});

test("ring buffer: 50,000 events reach JS in order, none lost, across many batches", async (t) => {
  const obj = openProbe();
  t.after(() => obj.close());
  const seqs: bigint[] = [];
  let batches = 0;
  const rb = new RingBufferConsumer(obj.map("events"), (events) => {
    batches++;
    for (const e of events) seqs.push(e.readBigUInt64LE(EV.seq));
  }, { maxBatch: 256 });
  const xdp = obj.program("probe_xdp");
  const pkt = udpPacket("198.18.0.2", "198.18.0.1");
  // 10,000 events (560 KB with headers) fit the 1 MiB ring, so each burst is drained before the next.
  for (let burst = 1; burst <= 5; burst++) {
    await xdp.testRunAsync({ data: pkt, repeat: 10_000 });
    await until(() => seqs.length === burst * 10_000, 10_000, `burst ${burst}`);
  }
  await rb.close();
  assert.equal(seqs.length, 50_000);
  seqs.forEach((s, i) => assert.equal(s, BigInt(i)));
  assert.ok(batches >= 50_000 / 256, `${batches} batches`);
  assert.deepEqual(rb.stats(), { events: 50_000, batches });
  assert.equal(statSum(obj, STAT.rbFailed), 0n);
  await rb.close();
});

test("ring buffer, packed: one buffer and offsets per batch, events 8-byte aligned and in order", async (t) => {
  const obj = openProbe();
  t.after(() => obj.close());
  const seqs: bigint[] = [];
  const rb = new RingBufferConsumer(obj.map("events"), ({ data, offsets, count }) => {
    assert.equal(offsets.length, 2 * count);
    for (let i = 0; i < count; i++) {
      const start = offsets[2 * i] ?? -1;
      assert.equal(start % 8, 0);
      assert.equal((offsets[2 * i + 1] ?? 0) - start, EV.size);
      seqs.push(data.readBigUInt64LE(start + EV.seq));
    }
  }, { packed: true, maxBatch: 100 });
  obj.program("probe_xdp").testRun({ data: udpPacket("198.18.0.2", "198.18.0.1"), repeat: 1000 });
  await rb.close();
  assert.deepEqual(seqs, Array.from({ length: 1000 }, (_, i) => BigInt(i)));
  assert.equal(rb.stats().events, 1000);
  assert.ok(rb.stats().batches >= 10, "maxBatch bounds a batch");
});

test("ring buffer: events submitted without wakeup arrive through the consume timer", async (t) => {
  const obj = openProbe({ wake_bytes: 1 << 30 });
  t.after(() => obj.close());
  const xdp = obj.program("probe_xdp");
  const pkt = udpPacket("198.18.0.2", "198.18.0.1");

  let untimed = 0;
  const noTimer = new RingBufferConsumer(obj.map("events"), (e) => (untimed += e.length), { consumeIntervalMs: 0, pollTimeoutMs: 60_000 });
  xdp.testRun({ data: pkt, repeat: 10 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(untimed, 0, "no wakeup, no timer: nothing is read yet");
  await noTimer.close();
  assert.equal(untimed, 10, "close() drains what is left");

  let timed = 0;
  const withTimer = new RingBufferConsumer(obj.map("events"), (e) => (timed += e.length), { consumeIntervalMs: 5, pollTimeoutMs: 60_000 });
  t.after(() => withTimer.close());
  xdp.testRun({ data: pkt, repeat: 10 });
  await until(() => timed === 10, 2_000, "the timed drain");
});

test("ring buffer: wrong map type, object close while a test run is pending", async (t) => {
  const obj = openProbe();
  t.after(() => obj.close());
  assert.throws(() => new RingBufferConsumer(obj.map("hits"), () => {}), (e: unknown) => e instanceof BpfError && e.errno === EINVAL);
  const pending = obj.program("probe_xdp").testRunAsync({ data: udpPacket("198.18.0.2", "198.18.0.1"), repeat: 1000 });
  expectBpfError(() => obj.close(), EBUSY, (e) => assert.match(e.hint, /testRunAsync/));
  assert.equal((await pending).retval, XDP_PASS);
});

test("a process with a closed consumer exits by itself", () => {
  const script = `
    import { BpfObject, RingBufferConsumer } from ${JSON.stringify(BPF_SRC)};
    const obj = BpfObject.open(${JSON.stringify(PROBE)}); obj.load();
    let n = 0;
    const rb = new RingBufferConsumer(obj.map("events"), (e) => { n += e.length; });
    obj.program("probe_xdp").testRun({ data: Buffer.alloc(64), repeat: 100 });
    await rb.close(); obj.close(); console.log(n);`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
  assert.equal(r.signal, null, "killed by the timeout: the consumer kept the process alive");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "100");
});

// ---- real packets through a veth pair --------------------------------------------------------------------

const NS = `stoq-t${process.pid}`;
const HOST_IF = `stq${process.pid}a`;
const PEER_IF = `stq${process.pid}b`;
// 198.19.<pid & 255>.0/30: inside the benchmarking range 198.18.0.0/15, distinct per test process.
const NET = `198.19.${process.pid & 0xff}`;
const HOST_IP = `${NET}.1`;
const PEER_IP = `${NET}.2`;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

function makeVeth(): void {
  ip("netns", "add", NS);
  ip("link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF, "netns", NS);
  ip("addr", "add", `${HOST_IP}/30`, "dev", HOST_IF);
  ip("link", "set", HOST_IF, "up");
  ip("-n", NS, "addr", "add", `${PEER_IP}/30`, "dev", PEER_IF);
  ip("-n", NS, "link", "set", PEER_IF, "up");
  ip("-n", NS, "link", "set", "lo", "up");
}

function removeVeth(): void {
  spawnSync("ip", ["link", "del", HOST_IF]);
  spawnSync("ip", ["netns", "del", NS]);
}

/** Sends `count` UDP datagrams from the peer namespace to the host side of the veth. */
function sendFromPeer(count: number): void {
  const sender = `
    const s = require("node:dgram").createSocket("udp4");
    let left = ${count};
    const next = () => left-- > 0 ? s.send(Buffer.alloc(32, 0x5a), 9, ${JSON.stringify(HOST_IP)}, next) : s.close();
    next();`;
  execFileSync("ip", ["netns", "exec", NS, process.execPath, "-e", sender], { timeout: 10_000 });
}

test("XDP (generic and native) and TC (tcx and netlink) on a veth: counters move, events reach JS, detach stops them", async (t) => {
  removeVeth();
  t.after(removeVeth);
  try {
    makeVeth();
    const obj = openProbe({ wake_bytes: 1 << 30 });
    t.after(() => obj.close());
    const [hostLink] = JSON.parse(ip("-j", "link", "show", HOST_IF)) as { ifindex: number }[];
    const hostIndex = hostLink?.ifindex;
    const events: Buffer[] = [];
    const rb = new RingBufferConsumer(obj.map("events"), (batch) => events.push(...batch));
    t.after(() => rb.close());
    const hits = obj.map("hits");
    const udpFromPeer = (e: Buffer): boolean =>
      e.readUInt32LE(EV.ifindex) === hostIndex && e.readUInt16BE(EV.head + 12) === 0x0800 && e[EV.head + 23] === 17 &&
      e.subarray(EV.head + 26, EV.head + 30).equals(ip4(PEER_IP));

    for (const mode of ["generic", "native"] as const) {
      const before = hitsOf(hits, PEER_IP)?.packets ?? 0n;
      events.length = 0;
      const link = obj.program("probe_xdp").attachXdp(HOST_IF, mode);
      try {
        assert.match(ip("link", "show", HOST_IF), mode === "native" ? /xdp[^a-z]/ : /xdpgeneric/);
        expectBpfError(() => obj.program("probe_xdp").attachXdp(HOST_IF, mode), EBUSY, (e) => assert.match(e.hint, /detach/));
        sendFromPeer(5);
        await until(() => events.filter((e) => e[EV.kind] === KIND_XDP && udpFromPeer(e)).length >= 5, 5_000, `XDP ${mode} events`);
        assert.ok((hitsOf(hits, PEER_IP)?.packets ?? 0n) - before >= 5n, `XDP ${mode} counter`);
      } finally {
        link.detach();
      }
      assert.doesNotMatch(ip("link", "show", HOST_IF), /xdp/);
      const after = hitsOf(hits, PEER_IP)?.packets;
      sendFromPeer(3);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(hitsOf(hits, PEER_IP)?.packets, after, `detached XDP ${mode} no longer counts`);
    }

    for (const api of ["tcx", "netlink"] as const) {
      events.length = 0;
      const before = statSum(obj, STAT.tcPackets);
      const link = obj.program("probe_tc").attachTc(HOST_IF, "ingress", { api });
      try {
        assert.match(link.description, new RegExp(api));
        sendFromPeer(5);
        await until(() => events.filter((e) => e[EV.kind] === KIND_TC && udpFromPeer(e)).length >= 5, 5_000, `TC ${api} events`);
        assert.ok(statSum(obj, STAT.tcPackets) - before >= 5n, `TC ${api} counter`);
      } finally {
        link.detach();
      }
      const after = statSum(obj, STAT.tcPackets);
      sendFromPeer(3);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(statSum(obj, STAT.tcPackets), after, `detached TC ${api} no longer counts`);
    }
    assert.equal(statSum(obj, STAT.rbFailed), 0n);
  } finally {
    removeVeth();
  }
  const obj = openProbe();
  try {
    expectBpfError(() => obj.program("probe_xdp").attachXdp(HOST_IF, "generic"), ENODEV, (e) => {
      assert.match(e.hint, new RegExp(`no interface "${HOST_IF}"`));
    });
  } finally {
    obj.close();
  }
});
