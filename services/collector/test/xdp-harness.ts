// Test harness for XDP mode's components: the kernel object loaded through kernel-loader.ts with small
// tables (no interface), frames run with bpf_prog_test_run_opts, and the ring buffer drained in packed
// batches as xdp-collector.ts drains it. Needs root and a built bpf/ (buildKernelObjects does it).
import { setTimeout as sleep } from "node:timers/promises";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { buildKernelObjects } from "../../../test/kernel/kernel.js";
import { RingBufferConsumer, type PackedEvents } from "../src/bpf.js";
import { KernelDataPath } from "../src/kernel-loader.js";
import { SERVER_FACTS_LAYOUT } from "../src/kernel-layout.js";
import { KernelStats } from "../src/kernel-stats.js";

export const SMALL_TABLES = {
  stoq_flows4: 1024,
  stoq_flows6: 1024,
  stoq_sources4: 1024,
  stoq_sources6: 1024,
  stoq_servers: 64,
};

export const XDP_PASS = 2;

/** A stoq_servers value read back. */
export function decodeServerFacts(b: Buffer): { certAgeHours: number; chainLen: number } {
  const F = SERVER_FACTS_LAYOUT.fields;
  return { certAgeHours: b.readUInt32LE(F.cert_age_hours.offset), chainLen: b.readUInt32LE(F.chain_len.offset) };
}

export class KernelHarness {
  readonly kernel: KernelDataPath;
  readonly stats: KernelStats;
  readonly #batches: PackedEvents[] = [];
  readonly #consumer: RingBufferConsumer;
  #delivered = 0;

  private constructor(kernel: KernelDataPath) {
    this.kernel = kernel;
    this.stats = new KernelStats(kernel.map("stoq_stats"), "test");
    this.#consumer = new RingBufferConsumer(
      kernel.map("stoq_events"),
      (b) => {
        this.#batches.push(b);
        this.#delivered += b.count;
      },
      { packed: true, consumeIntervalMs: 1 },
    );
  }

  static open(opts: { pinDir?: string | null; ringBufferBytes?: number } = {}): KernelHarness {
    buildKernelObjects();
    return new KernelHarness(
      KernelDataPath.load({
        interface: null,
        xdpMode: "native",
        ringBufferBytes: opts.ringBufferBytes ?? 1 << 22,
        flowsMax: 1024,
        bigram: loadBigramTable(),
        pinDir: opts.pinDir ?? null,
        maxEntries: SMALL_TABLES,
      }),
    );
  }

  /** Runs frames through the XDP program in order; returns the verdicts. */
  run(frames: readonly Buffer[], hook: "xdp" | "tc" = "xdp"): number[] {
    const prog = this.kernel.obj.program(hook === "xdp" ? "stoq_xdp_ingress" : "stoq_tc_egress");
    return frames.map((data) => prog.testRun({ data }).retval);
  }

  /** Waits until every event the programs submitted so far reached JS, and hands over the batches. */
  async take(timeoutMs = 5000): Promise<PackedEvents[]> {
    const want = Number(this.stats.total("event"));
    const deadline = Date.now() + timeoutMs;
    while (this.#delivered < want) {
      if (Date.now() > deadline) throw new Error(`expected ${want} events, got ${this.#delivered}`);
      await sleep(1);
    }
    return this.#batches.splice(0);
  }

  async close(): Promise<void> {
    await this.#consumer.close();
    this.stats.close();
    this.kernel.close();
  }
}
