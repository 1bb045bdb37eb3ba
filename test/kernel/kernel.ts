// The harness of the kernel tests and bench/xdp.ts: builds bpf/, loads stoq.bpf.o through the collector's
// libbpf addon with small tables, runs packets with bpf_prog_test_run_opts, and collects the ring-buffer
// events and per-CPU counters each run produced.
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { loadBigramTable, bigramBytes } from "../../lib/src/model/bigram.js";
import type { QuantModel } from "../../lib/src/model/int8-mlp.js";
import { encodeControl, encodeModel, encodeNgramRows, ngramKeys, type Control } from "../../lib/src/model/layout.js";
import { BpfObject, RingBufferConsumer, type BpfProgram, type TestRunResult } from "../../services/collector/src/bpf.js";
import {
  HOOK,
  STAT_NAMES,
  decodeEvent,
  decodeFlow,
  sumStats,
  type Flow,
  type KernelEvent,
  type StatName,
} from "../../services/collector/src/kernel-layout.js";

export const BPF_DIR = fileURLToPath(new URL("../../bpf/", import.meta.url));
export const STOQ_OBJECT = `${BPF_DIR}build/stoq.bpf.o`;
export const EMPTY_OBJECT = `${BPF_DIR}build/empty.bpf.o`;
export const MLP_TEST_OBJECT = `${BPF_DIR}build/test_mlp.bpf.o`;

export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const TC_ACT_OK = 0;

export type Hook = keyof typeof HOOK;
export type Stats = Record<StatName, bigint>;

/** Brings bpf/build/ up to date (incremental: a no-op when nothing changed). */
export function buildKernelObjects(): void {
  execFileSync("make", ["-s", "-C", BPF_DIR], { stdio: ["ignore", "inherit", "inherit"] });
}

/** Small tables: a test does not need 256 Ki flows per family, and several objects may be loaded at once. */
const TEST_MAX_ENTRIES = {
  stoq_flows4: 4096,
  stoq_flows6: 4096,
  stoq_sources4: 4096,
  stoq_sources6: 4096,
  stoq_servers: 1024,
  stoq_events: 4 << 20,
};

export interface OpenOptions {
  /** Write the feature_spec bigram table (default true): without it queries go unscored. */
  bigram?: boolean;
  rodata?: Record<string, number | bigint>;
  maxEntries?: Record<string, number>;
}

export interface RunResult extends TestRunResult {
  events: KernelEvent[];
  /** Counter changes this run caused on the hook it ran on. */
  delta: Partial<Record<StatName, bigint>>;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** One loaded stoq.bpf.o with a ring-buffer consumer collecting every event it submits. */
export class StoqKernel {
  readonly obj: BpfObject;
  readonly #received: Buffer[] = [];
  readonly #consumer: RingBufferConsumer;
  #taken = 0;

  private constructor(obj: BpfObject) {
    this.obj = obj;
    this.#consumer = new RingBufferConsumer(obj.map("stoq_events"), (events) => this.#received.push(...events.map((e) => Buffer.from(e))), {
      consumeIntervalMs: 1,
    });
  }

  static open(opts: OpenOptions = {}): StoqKernel {
    buildKernelObjects();
    const obj = BpfObject.open(STOQ_OBJECT, {
      rodata: opts.rodata ?? {},
      maxEntries: { ...TEST_MAX_ENTRIES, ...opts.maxEntries },
    });
    obj.load();
    const k = new StoqKernel(obj);
    if (opts.bigram ?? true) k.loadBigram();
    return k;
  }

  /** Writes the feature_spec bigram table (models/feature-spec-v1.json) as the collector does. */
  loadBigram(): void {
    this.obj.map("stoq_bigrams").update(u32(0), bigramBytes(loadBigramTable()));
  }

  program(hook: Hook): BpfProgram {
    return this.obj.program(hook === "xdpIngress" ? "stoq_xdp_ingress" : "stoq_tc_egress");
  }

  stats(hook: Hook): Stats {
    const perCpu = this.obj.map("stoq_stats").lookupPerCpu(u32(HOOK[hook]));
    if (!perCpu) throw new Error("stoq_stats has no entry for the hook");
    return sumStats(perCpu);
  }

  /** Runs one frame `repeat` times without waiting for events. */
  run(hook: Hook, data: Buffer, repeat = 1): TestRunResult {
    return this.program(hook).testRun({ data, repeat });
  }

  /** Runs one frame once and returns the events it produced and the counters it moved. */
  async runCollect(hook: Hook, data: Buffer): Promise<RunResult> {
    const before = this.stats(hook);
    const r = this.run(hook, data);
    const after = this.stats(hook);
    const delta: Partial<Record<StatName, bigint>> = {};
    for (const n of STAT_NAMES) if (after[n] !== before[n]) delta[n] = after[n] - before[n];
    const events = await this.takeEvents(Number(delta.event ?? 0n));
    return { ...r, events, delta };
  }

  /** Waits for `n` more events than were taken so far and returns them in ring order. */
  async takeEvents(n: number, timeoutMs = 5000): Promise<KernelEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.#received.length - this.#taken < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} ring-buffer events, got ${this.#received.length - this.#taken}`);
      await sleep(1);
    }
    const raw = this.#received.slice(this.#taken, this.#taken + n);
    this.#taken += n;
    return raw.map((b) => {
      const e = decodeEvent(b);
      if (!e) throw new Error(`undecodable event of ${b.length} bytes: ${b.subarray(0, 16).toString("hex")}`);
      return e;
    });
  }

  /** Every event submitted so far and not yet taken (waits for the counters' total to arrive). */
  async takeAllEvents(): Promise<KernelEvent[]> {
    const submitted = this.stats("xdpIngress").event + this.stats("tcEgress").event;
    return this.takeEvents(Number(submitted) - this.#taken);
  }

  /** Writes a model and its n-gram rows into a slot by the collector's protocol (version 0, rows, version). */
  setModel(slot: number, m: QuantModel): void {
    const rows = encodeNgramRows(m);
    this.obj.map("stoq_models").update(u32(slot), encodeModel({ ...m, version: 0n }));
    if (rows.length > 0) this.obj.map("stoq_ngrams").updateBatch(ngramKeys(slot, rows.length), rows);
    this.obj.map("stoq_models").update(u32(slot), encodeModel(m));
  }

  clearModel(slot: number): void {
    this.obj.map("stoq_models").update(u32(slot), Buffer.alloc(this.obj.map("stoq_models").valueSize));
  }

  setControl(c: Control): void {
    this.obj.map("stoq_control").update(u32(0), encodeControl(c));
  }

  /** Forgets every flow, source, server fact and admission stamp, so the next packets meet a fresh node. */
  reset(): void {
    for (const name of ["stoq_flows4", "stoq_flows6", "stoq_sources4", "stoq_sources6", "stoq_servers"]) {
      const m = this.obj.map(name);
      const keys = [...m.keys()];
      if (keys.length > 0) m.deleteBatch(keys);
    }
    const admit = this.obj.map("stoq_admit");
    const keys = Array.from({ length: admit.maxEntries }, (_, i) => u32(i));
    admit.updateBatch(keys, keys.map(() => Buffer.alloc(admit.valueSize)));
  }

  flows(): Flow[] {
    const out: Flow[] = [];
    for (const name of ["stoq_flows4", "stoq_flows6"]) {
      const { keys, values } = this.obj.map(name).lookupBatch();
      keys.forEach((k, i) => out.push(decodeFlow(k, values[i]!)));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#consumer.close();
    this.obj.close();
  }
}
