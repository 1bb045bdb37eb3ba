// The typed TypeScript face of the libbpf N-API addon (native/, built by `npm run build:addon`); the only
// module that loads stoq_bpf.node. Every libbpf or syscall failure surfaces as a BpfError (bpf-errors.ts).
//
//   const obj = BpfObject.open("bpf/build/stoq.bpf.o", { rodata: { mode: 2 }, maxEntries: { flows: 1 << 18 } });
//   obj.load();                                    // verifier rejection: BpfError with .verifierLog
//   const link = obj.program("stoq_xdp").attachXdp("eth0", "native");
//   const flows = obj.map("flows");                // lookup / update / delete / keys / *Batch / pin
//   const rb = new RingBufferConsumer(obj.map("events"), (events) => { ... }, { consumeIntervalMs: 5 });
//   ...; await rb.close(); link.detach(); obj.close();
//
// BpfObject   open(path, { rodata, pinRoot, maxEntries }) → load() → program(name) / map(name) / programs()
//             / maps() / btfStruct(name) → close(). rodata sets `const volatile` integers before load;
//             pinRoot is where maps declared with LIBBPF_PIN_BY_NAME are pinned and reused. program()
//             and map() need load(); btfStruct() works from open(). A struct is in BTF only if something
//             references it (a map's value type, a global): give ring-buffer event structs a global
//             such as `struct event *unused_event __attribute__((unused));`.
// BpfProgram  fd, type, attachXdp(ifname, "native" | "generic"), attachTc(ifname, "ingress" | "egress",
//             { api }), testRun({ data, repeat, ctxIn }) and testRunAsync (same, on the libuv pool),
//             pin(path) / unpin(path).
// BpfMap      fd, type, keySize, valueSize, maxEntries, perCpu, nCpus; lookup / update / delete;
//             lookupPerCpu / updatePerCpu (one value per possible CPU); keys(); lookupBatch,
//             lookupAndDeleteBatch, updateBatch, deleteBatch; pin / unpin; close() (pinned maps).
// BpfLink     detach(). A link that is garbage-collected detaches too: keep it while attached.
// RingBufferConsumer  a native thread drains the ring (on kernel wakeups and every consumeIntervalMs, for
//             producers that submit with BPF_RB_NO_WAKEUP) and calls onBatch on the JS thread with the
//             events in ring order, as Buffer[] or, with { packed: true }, as one buffer + offsets
//             (PackedEvents, no per-event allocation); close() drains what is left, joins the thread and
//             resolves. At most 32 batches wait for JS; past that the thread blocks, the kernel ring
//             fills, and the program's failed reservations count what is lost. An open consumer keeps
//             the process alive, as a listening socket does.
// openPinnedMap(path), libbpfVersion(), drainRingBufferInC (the benchmark's reference).
//
// Pins must be made from the root mount namespace: inside `ip netns exec`, /sys/fs/bpf is not mounted.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { BpfError, isNativeFailure } from "./bpf-errors.js";

export { BpfError } from "./bpf-errors.js";

const ADDON_PATH = fileURLToPath(new URL("../native/build/Release/stoq_bpf.node", import.meta.url));

// ---- the native surface (native/src/*.cc) -------------------------------------------------------------

interface NativeObject {
  load(): void;
  programNames(): string[];
  mapNames(): string[];
  program(name: string): NativeProgram;
  map(name: string): NativeMap;
  btfStruct(name: string): BtfStruct | null;
  close(): void;
}

interface NativeProgram {
  readonly fd: number;
  readonly name: string;
  readonly type: string;
  attachXdp(ifname: string, mode: XdpMode): NativeLink;
  attachTc(ifname: string, direction: TcDirection, api: TcApi): NativeLink;
  testRun(data: Buffer, repeat: number, ctxIn: Buffer | null): TestRunResult;
  testRunAsync(data: Buffer, repeat: number, ctxIn: Buffer | null): Promise<TestRunResult>;
  pin(path: string): void;
  unpin(path: string): void;
}

interface NativeMapInfo {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  perCpu: boolean;
  nCpus: number;
  valueStride: number;
}

interface NativeMap {
  readonly fd: number;
  info(): NativeMapInfo;
  lookup(key: Buffer): Buffer | null;
  update(key: Buffer, value: Buffer, flags: number): void;
  delete(key: Buffer): boolean;
  nextKey(key: Buffer | null): Buffer | null;
  lookupBatch(maxCount: number, andDelete: boolean): { keys: Buffer; values: Buffer; count: number };
  updateBatch(keys: Buffer, values: Buffer, count: number, flags: number): void;
  deleteBatch(keys: Buffer, count: number): void;
  pin(path: string): void;
  unpin(path: string): void;
  close(): void;
}

interface NativeLink {
  readonly description: string;
  detach(): void;
}

type NativeBatchCallback = (data: Buffer | null, offsets: Uint32Array | null, error?: Error) => void;

interface NativeConsumer {
  close(): Promise<void>;
}

interface NativeAddon {
  ObjectHandle: new (
    path: string,
    rodata: [string, bigint][],
    pinRoot: string | null,
    maxEntries: [string, number][],
  ) => NativeObject;
  RingConsumer: new (map: NativeMap, callback: NativeBatchCallback, waitMs: number, maxBatch: number) => NativeConsumer;
  openPinnedMap(path: string): NativeMap;
  drainInC(map: NativeMap, count: number, timeoutMs: number): Promise<DrainResult>;
  libbpfVersion(): string;
}

let loaded: NativeAddon | undefined;

/** Loaded on first use, so importing this module costs nothing where BPF is not used (pcap mode). */
function addon(): NativeAddon {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (e) {
    throw new BpfError(
      `cannot load the BPF addon ${ADDON_PATH}: ${(e as Error).message}`,
      {
        errno: 2,
        operation: "require",
        target: ADDON_PATH,
        hint: "build it with `npm run build:addon` (needs clang, libbpf-dev, g++, make, python3)",
        libbpfLog: "",
        verifierLog: null,
        program: null,
      },
      { cause: e },
    );
  }
  return loaded;
}

/** Runs a native call and turns its failure into a BpfError. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw isNativeFailure(e) ? BpfError.fromNative(e) : e;
  }
}

async function callAsync<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await call(p);
  } catch (e) {
    throw isNativeFailure(e) ? BpfError.fromNative(e) : e;
  }
}

// ---- public types ---------------------------------------------------------------------------------------

export type XdpMode = "native" | "generic";
export type TcDirection = "ingress" | "egress";
/** "tcx": a TCX link (kernel >= 6.6); "netlink": a filter on the clsact qdisc; "auto": TCX, else netlink. */
export type TcApi = "auto" | "tcx" | "netlink";

export const UPDATE_FLAGS = { any: 0, noexist: 1, exist: 2 } as const;
export type UpdateFlag = keyof typeof UPDATE_FLAGS;

export interface OpenOptions {
  /** `const volatile` integers of the object's .rodata, set before load. */
  rodata?: Record<string, number | bigint>;
  /** Directory (on bpffs) for maps declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)`. */
  pinRoot?: string;
  /** max_entries overrides per map name, set before load. */
  maxEntries?: Record<string, number>;
}

export interface BtfMember {
  name: string;
  offsetBits: number;
  sizeBytes: number;
  /** Width of a bitfield member, 0 for an ordinary one. */
  bitfieldBits: number;
  /** C-like type name as BTF spells it: "__u32", "__u8[16]", "struct flow_key". */
  type: string;
}

export interface BtfStruct {
  name: string;
  size: number;
  members: BtfMember[];
}

export interface TestRunOptions {
  data: Buffer;
  /** Runs of the program over the same input; durationNs is the mean. Default 1. */
  repeat?: number;
  /** The context (struct xdp_md, struct __sk_buff) handed to the program. */
  ctxIn?: Buffer;
}

export interface TestRunResult {
  retval: number;
  durationNs: number;
  dataOut: Buffer;
}

export interface BatchResult {
  keys: Buffer[];
  values: Buffer[];
}

export interface DrainResult {
  events: number;
  bytes: number;
  elapsedNs: number;
}

function checkCount(op: string, target: string, name: string, n: number, max: number): void {
  if (!Number.isInteger(n) || n < 0 || n > max) throw BpfError.usage(op, target, `${name} must be an integer in [0, ${max}]`);
}

// ---- BpfObject ------------------------------------------------------------------------------------------

export class BpfObject {
  readonly path: string;
  readonly #native: NativeObject;
  readonly #programs = new Map<string, BpfProgram>();
  readonly #maps = new Map<string, BpfMap>();

  private constructor(path: string, native: NativeObject) {
    this.path = path;
    this.#native = native;
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const rodata = Object.entries(opts.rodata ?? {}).map(([name, v]): [string, bigint] => {
      if (typeof v === "number" && !Number.isSafeInteger(v)) {
        throw BpfError.usage("rodata", name, `${v} is not an integer; pass a bigint beyond 2^53`);
      }
      return [name, BigInt(v)];
    });
    const maxEntries = Object.entries(opts.maxEntries ?? {}).map(([name, n]): [string, number] => {
      checkCount("bpf_map__set_max_entries", name, "maxEntries", n, 0xffffffff);
      return [name, n];
    });
    const { ObjectHandle } = addon();
    return new BpfObject(path, call(() => new ObjectHandle(path, rodata, opts.pinRoot ?? null, maxEntries)));
  }

  /** Loads every program and creates every map; a verifier rejection throws with the log tail. */
  load(): void {
    call(() => this.#native.load());
  }

  programs(): string[] {
    return this.#native.programNames();
  }

  /** Maps declared in the object; the internal ".bss", ".data", ".rodata" are reachable by map(). */
  maps(): string[] {
    return this.#native.mapNames();
  }

  program(name: string): BpfProgram {
    let p = this.#programs.get(name);
    if (!p) {
      if (!this.programs().includes(name)) {
        throw BpfError.usage("program", name, `no program of that name in ${this.path}; it has: ${this.programs().join(", ")}`);
      }
      p = new BpfProgram(call(() => this.#native.program(name)));
      this.#programs.set(name, p);
    }
    return p;
  }

  map(name: string): BpfMap {
    let m = this.#maps.get(name);
    if (!m) {
      if (!name.startsWith(".") && !this.maps().includes(name)) {
        throw BpfError.usage("map", name, `no map of that name in ${this.path}; it has: ${this.maps().join(", ")}`);
      }
      m = new BpfMap(call(() => this.#native.map(name)));
      this.#maps.set(name, m);
    }
    return m;
  }

  /** The layout the compiler gave a struct (or union, or typedef of one), read from the object's BTF. */
  btfStruct(name: string): BtfStruct | null {
    return call(() => this.#native.btfStruct(name));
  }

  /** Frees the object; its programs stay attached only through links that are still open. */
  close(): void {
    call(() => this.#native.close());
    this.#programs.clear();
    this.#maps.clear();
  }
}

// ---- BpfProgram -----------------------------------------------------------------------------------------

export class BpfProgram {
  readonly name: string;
  readonly #native: NativeProgram;

  /** @internal from BpfObject.program() */
  constructor(native: NativeProgram) {
    this.#native = native;
    this.name = native.name;
  }

  get fd(): number {
    return call(() => this.#native.fd);
  }

  /** libbpf's name of the program type: "xdp", "sched_cls", ... */
  get type(): string {
    return call(() => this.#native.type);
  }

  attachXdp(ifname: string, mode: XdpMode): BpfLink {
    if (mode !== "native" && mode !== "generic") throw BpfError.usage("attachXdp", ifname, `mode must be "native" or "generic"`);
    return new BpfLink(call(() => this.#native.attachXdp(ifname, mode)));
  }

  attachTc(ifname: string, direction: TcDirection, opts: { api?: TcApi } = {}): BpfLink {
    if (direction !== "ingress" && direction !== "egress") {
      throw BpfError.usage("attachTc", ifname, `direction must be "ingress" or "egress"`);
    }
    return new BpfLink(call(() => this.#native.attachTc(ifname, direction, opts.api ?? "auto")));
  }

  testRun(opts: TestRunOptions): TestRunResult {
    const repeat = this.#repeat(opts);
    return call(() => this.#native.testRun(opts.data, repeat, opts.ctxIn ?? null));
  }

  /** testRun on the libuv thread pool: the event loop (a ring-buffer consumer, say) keeps running. */
  testRunAsync(opts: TestRunOptions): Promise<TestRunResult> {
    const repeat = this.#repeat(opts);
    return callAsync(() => this.#native.testRunAsync(opts.data, repeat, opts.ctxIn ?? null));
  }

  pin(path: string): void {
    call(() => this.#native.pin(path));
  }

  unpin(path: string): void {
    call(() => this.#native.unpin(path));
  }

  #repeat(opts: TestRunOptions): number {
    const repeat = opts.repeat ?? 1;
    checkCount("bpf_prog_test_run_opts", this.name, "repeat", repeat, 0xffffffff);
    return repeat;
  }
}

// ---- BpfMap ---------------------------------------------------------------------------------------------

/** The native handle behind each BpfMap, for the ring-buffer functions (kept off the public surface). */
const nativeMaps = new WeakMap<BpfMap, NativeMap>();

function nativeMap(map: BpfMap): NativeMap {
  const n = nativeMaps.get(map);
  if (!n) throw BpfError.usage("ring_buffer__new", map.name, "not a map from BpfObject.map() or openPinnedMap()");
  return n;
}

export class BpfMap {
  readonly name: string;
  /** libbpf's name of the map type: "hash", "percpu_array", "ringbuf", ... */
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** BPF_F_* flags the map was created with. */
  readonly flags: number;
  /** Per-CPU maps hold one value per possible CPU (nCpus of them, each 8-byte aligned). */
  readonly perCpu: boolean;
  readonly nCpus: number;
  readonly #stride: number;
  readonly #native: NativeMap;

  /** @internal from BpfObject.map() and openPinnedMap() */
  constructor(native: NativeMap) {
    this.#native = native;
    nativeMaps.set(this, native);
    const info = native.info();
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.perCpu = info.perCpu;
    this.nCpus = info.nCpus;
    this.#stride = info.valueStride;
  }

  get fd(): number {
    return call(() => this.#native.fd);
  }

  lookup(key: Buffer): Buffer | null {
    if (this.perCpu) throw BpfError.usage("bpf_map_lookup_elem", this.name, "a per-CPU map: use lookupPerCpu()");
    return call(() => this.#native.lookup(key));
  }

  /** One value per possible CPU (views into one buffer), or null when the key is absent. */
  lookupPerCpu(key: Buffer): Buffer[] | null {
    if (!this.perCpu) throw BpfError.usage("bpf_map_lookup_elem", this.name, "not a per-CPU map: use lookup()");
    const all = call(() => this.#native.lookup(key));
    return all && this.splitPerCpu(all);
  }

  /** Splits a per-CPU value block (as lookupBatch returns for per-CPU maps) into one value per CPU. */
  splitPerCpu(block: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let cpu = 0; cpu < this.nCpus; cpu++) {
      out.push(block.subarray(cpu * this.#stride, cpu * this.#stride + this.valueSize));
    }
    return out;
  }

  /** On a per-CPU map a value of valueSize bytes is written to every CPU's slot. */
  update(key: Buffer, value: Buffer, flags: UpdateFlag = "any"): void {
    const v = this.perCpu && value.length === this.valueSize ? this.#perCpuBlock(new Array<Buffer>(this.nCpus).fill(value)) : value;
    call(() => this.#native.update(key, v, this.#flag(flags)));
  }

  /** Writes one value per possible CPU (values.length === nCpus). */
  updatePerCpu(key: Buffer, values: Buffer[], flags: UpdateFlag = "any"): void {
    if (!this.perCpu) throw BpfError.usage("bpf_map_update_elem", this.name, "not a per-CPU map: use update()");
    call(() => this.#native.update(key, this.#perCpuBlock(values), this.#flag(flags)));
  }

  /** True when the key was there. */
  delete(key: Buffer): boolean {
    return call(() => this.#native.delete(key));
  }

  /** Every key, walked with BPF_MAP_GET_NEXT_KEY; a key deleted meanwhile may restart a hash walk. */
  *keys(): IterableIterator<Buffer> {
    let key: Buffer | null = null;
    for (;;) {
      const prev: Buffer | null = key;
      key = call(() => this.#native.nextKey(prev));
      if (key === null) return;
      yield key;
    }
  }

  /**
   * Up to maxCount entries (default: the whole map) in as few syscalls as the kernel allows. For per-CPU
   * maps each value is the per-CPU block (see splitPerCpu). Starts from the beginning each call.
   */
  lookupBatch(maxCount = 0): BatchResult {
    return this.#batch(maxCount, false);
  }

  /** As lookupBatch, deleting what it returns (hash maps); may return a few more than maxCount, never loses one. */
  lookupAndDeleteBatch(maxCount = 0): BatchResult {
    return this.#batch(maxCount, true);
  }

  updateBatch(keys: Buffer[], values: Buffer[], flags: UpdateFlag = "any"): void {
    if (keys.length !== values.length) {
      throw BpfError.usage("bpf_map_update_batch", this.name, `${keys.length} keys but ${values.length} values`);
    }
    if (keys.length === 0) return;
    const vs = this.perCpu ? values.map((v) => (v.length === this.valueSize ? this.#perCpuBlock(new Array<Buffer>(this.nCpus).fill(v)) : v)) : values;
    call(() => this.#native.updateBatch(Buffer.concat(keys), Buffer.concat(vs), keys.length, this.#flag(flags)));
  }

  /** Fails with ENOENT at the first key that is not in the map (those before it are deleted). */
  deleteBatch(keys: Buffer[]): void {
    if (keys.length === 0) return;
    call(() => this.#native.deleteBatch(Buffer.concat(keys), keys.length));
  }

  pin(path: string): void {
    call(() => this.#native.pin(path));
  }

  unpin(path: string): void {
    call(() => this.#native.unpin(path));
  }

  /** Releases a map opened with openPinnedMap(); a map of an object is released by the object's close(). */
  close(): void {
    this.#native.close();
  }

  #batch(maxCount: number, andDelete: boolean): BatchResult {
    checkCount("bpf_map_lookup_batch", this.name, "maxCount", maxCount, 0xffffffff - 64);
    const r = call(() => this.#native.lookupBatch(maxCount, andDelete));
    const vl = this.perCpu ? this.#stride * this.nCpus : this.valueSize;
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    for (let i = 0; i < r.count; i++) {
      keys.push(r.keys.subarray(i * this.keySize, (i + 1) * this.keySize));
      values.push(r.values.subarray(i * vl, (i + 1) * vl));
    }
    return { keys, values };
  }

  #perCpuBlock(values: Buffer[]): Buffer {
    if (values.length !== this.nCpus || values.some((v) => v.length !== this.valueSize)) {
      throw BpfError.usage("bpf_map_update_elem", this.name, `need ${this.nCpus} values of ${this.valueSize} bytes (one per possible CPU)`);
    }
    const block = Buffer.alloc(this.#stride * this.nCpus);
    values.forEach((v, cpu) => v.copy(block, cpu * this.#stride));
    return block;
  }

  #flag(flags: UpdateFlag): number {
    const f = UPDATE_FLAGS[flags];
    if (f === undefined) throw BpfError.usage("bpf_map_update_elem", this.name, `flags must be one of ${Object.keys(UPDATE_FLAGS).join(", ")}`);
    return f;
  }
}

export function openPinnedMap(path: string): BpfMap {
  const native = call(() => addon().openPinnedMap(path));
  return new BpfMap(native);
}

// ---- BpfLink --------------------------------------------------------------------------------------------

export class BpfLink {
  readonly #native: NativeLink;

  /** @internal from attachXdp / attachTc */
  constructor(native: NativeLink) {
    this.#native = native;
  }

  /** "<program> on <ifname> (<how>)" */
  get description(): string {
    return this.#native.description;
  }

  /** Idempotent; detaching from an interface that is gone succeeds. */
  detach(): void {
    call(() => this.#native.detach());
  }
}

// ---- RingBufferConsumer ---------------------------------------------------------------------------------

export interface RingBufferOptions {
  /** Longest wait for a kernel wakeup before the thread looks again. Default 100. */
  pollTimeoutMs?: number;
  /** Events per batch handed to onBatch. Default 4096. */
  maxBatch?: number;
  /** Drain at least this often even without a wakeup (producers using BPF_RB_NO_WAKEUP); 0 = wakeups only. Default 5. */
  consumeIntervalMs?: number;
  /** A failure of the consumer thread (it has stopped); without this handler it is thrown as uncaught. */
  onError?: (e: BpfError) => void;
}

/**
 * One batch as the native thread built it, for consumers that decode in place: the events lie back to
 * back in `data`, each starting 8-byte aligned; event i spans [offsets[2i], offsets[2i + 1]). Cheaper than
 * the Buffer[] form by one Buffer object per event (see bench/ringbuf.ts).
 */
export interface PackedEvents {
  readonly data: Buffer;
  readonly offsets: Uint32Array;
  readonly count: number;
}

export class RingBufferConsumer {
  readonly #native: NativeConsumer;
  #events = 0;
  #batches = 0;
  #closing: Promise<void> | undefined;

  constructor(map: BpfMap, onBatch: (events: Buffer[]) => void, opts?: RingBufferOptions & { packed?: false });
  constructor(map: BpfMap, onBatch: (batch: PackedEvents) => void, opts: RingBufferOptions & { packed: true });
  constructor(
    map: BpfMap,
    onBatch: ((events: Buffer[]) => void) | ((batch: PackedEvents) => void),
    opts: RingBufferOptions & { packed?: boolean } = {},
  ) {
    const pollTimeoutMs = opts.pollTimeoutMs ?? 100;
    const consumeIntervalMs = opts.consumeIntervalMs ?? 5;
    const maxBatch = opts.maxBatch ?? 4096;
    checkCount("ring_buffer__new", map.name, "pollTimeoutMs", pollTimeoutMs, 60_000);
    checkCount("ring_buffer__new", map.name, "consumeIntervalMs", consumeIntervalMs, 60_000);
    checkCount("ring_buffer__new", map.name, "maxBatch", maxBatch, 1 << 20);
    if (pollTimeoutMs === 0 || maxBatch === 0) {
      throw BpfError.usage("ring_buffer__new", map.name, "pollTimeoutMs and maxBatch must be positive");
    }
    const waitMs = consumeIntervalMs > 0 ? Math.min(pollTimeoutMs, consumeIntervalMs) : pollTimeoutMs;
    const onError = opts.onError;
    const deliver = opts.packed
      ? (data: Buffer, offsets: Uint32Array, count: number): void => (onBatch as (b: PackedEvents) => void)({ data, offsets, count })
      : (data: Buffer, offsets: Uint32Array, count: number): void => {
          const events = new Array<Buffer>(count);
          for (let i = 0, j = 0; i < count; i++, j += 2) events[i] = data.subarray(offsets[j], offsets[j + 1]);
          (onBatch as (events: Buffer[]) => void)(events);
        };
    const callback: NativeBatchCallback = (data, offsets, error) => {
      if (data === null || offsets === null) {
        const e = isNativeFailure(error) ? BpfError.fromNative(error) : (error ?? new Error("ring-buffer consumer failed"));
        if (onError && e instanceof BpfError) onError(e);
        else throw e;
        return;
      }
      const count = offsets.length >> 1;
      this.#events += count;
      this.#batches++;
      deliver(data, offsets, count);
    };
    const { RingConsumer } = addon();
    this.#native = call(() => new RingConsumer(nativeMap(map), callback, waitMs, maxBatch));
  }

  /** Events and batches delivered to onBatch so far. */
  stats(): { events: number; batches: number } {
    return { events: this.#events, batches: this.#batches };
  }

  /** Drains what the ring holds, stops and joins the thread; resolves after the last onBatch. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= callAsync(() => this.#native.close());
    return this.#closing;
  }
}

/**
 * The benchmark's reference: drains `count` events from a ring buffer on a C thread (same drain and copy
 * as RingBufferConsumer, no hand-over to JS), giving up after timeoutMs.
 */
export function drainRingBufferInC(map: BpfMap, count: number, timeoutMs: number): Promise<DrainResult> {
  return callAsync(() => addon().drainInC(nativeMap(map), count, timeoutMs));
}

export function libbpfVersion(): string {
  return addon().libbpfVersion();
}
