// Reads the kernel's per-CPU stats map (stoq_stats: one stoq_stats value per hook) and exports every
// counter as stoq_kernel_stat_total{interface, hook, stat}: verdicts, unscored reasons, parse errors and
// every failed ring-buffer reservation or table update.
import type { BpfMap } from "./bpf.js";
import { cumulativeCounter } from "./cumulative-metrics.js";
import { HOOK, STAT_NAMES, sumStats, type StatName } from "./kernel-layout.js";

export type HookName = keyof typeof HOOK;
export type KernelCounters = Record<HookName, Record<StatName, bigint>>;

const HOOK_LABEL: Record<HookName, string> = { xdpIngress: "xdp_ingress", tcEgress: "tc_egress" };

const kernelStat = cumulativeCounter(
  "stoq_kernel_stat_total",
  "Counters of the XDP and TC programs (bpf/stoq_shared.h enum stoq_stat), summed over CPUs.",
  ["interface", "hook", "stat"],
);

function hookKey(hook: HookName): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(HOOK[hook]);
  return b;
}

export class KernelStats {
  readonly #map: BpfMap;
  readonly #stop: () => void;

  constructor(map: BpfMap, iface: string) {
    this.#map = map;
    this.#stop = kernelStat.track(() => {
      const c = this.read();
      const out: [Record<string, string>, number][] = [];
      for (const hook of Object.keys(HOOK) as HookName[]) {
        for (const stat of STAT_NAMES) out.push([{ interface: iface, hook: HOOK_LABEL[hook], stat }, Number(c[hook][stat])]);
      }
      return out;
    });
  }

  read(): KernelCounters {
    const one = (hook: HookName): Record<StatName, bigint> => sumStats(this.#map.lookupPerCpu(hookKey(hook)) ?? []);
    return { xdpIngress: one("xdpIngress"), tcEgress: one("tcEgress") };
  }

  /** Both hooks' total of one counter. */
  total(stat: StatName): bigint {
    const c = this.read();
    return c.xdpIngress[stat] + c.tcEgress[stat];
  }

  /** Exports the last values and stops; call before the map is freed. */
  close(): void {
    this.#stop();
  }
}
