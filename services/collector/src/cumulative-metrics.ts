// Prometheus counters fed from totals kept elsewhere (the kernel's per-CPU stats map, a component's own
// counters): at each scrape every live source is read and its growth since the last read is added, so
// several collectors in one process (one per interface) share one metric, told apart by labels.
import { Counter } from "prom-client";

/** Current totals of one source, as (labels, cumulative value) pairs. */
export type Totals = () => Iterable<readonly [Readonly<Record<string, string>>, number]>;

export interface CumulativeCounter {
  /** Starts reading `totals` at each scrape; the returned function reads it a last time and stops. */
  track(totals: Totals): () => void;
}

const labelKey = (labels: Readonly<Record<string, string>>): string => JSON.stringify(Object.entries(labels).sort());

export function cumulativeCounter(name: string, help: string, labelNames: readonly string[]): CumulativeCounter {
  const live = new Map<Totals, Map<string, number>>();
  const take = (counter: Counter, totals: Totals, seen: Map<string, number>): void => {
    for (const [labels, value] of totals()) {
      const k = labelKey(labels);
      const last = seen.get(k);
      const delta = value - (last ?? 0);
      // A total that went down was reset (a reloaded object): what it counted since is new. A series
      // seen for the first time is created even at 0, so "nothing shed" is a value, not an absence.
      if (delta !== 0 || last === undefined) counter.inc(labels, delta >= 0 ? delta : value);
      seen.set(k, value);
    }
  };
  const counter: Counter = new Counter({
    name,
    help,
    labelNames: [...labelNames],
    collect() {
      for (const [totals, seen] of live) take(counter, totals, seen);
    },
  });
  return {
    track(totals) {
      const seen = new Map<string, number>();
      live.set(totals, seen);
      return () => {
        if (!live.delete(totals)) return;
        take(counter, totals, seen);
      };
    },
  };
}
