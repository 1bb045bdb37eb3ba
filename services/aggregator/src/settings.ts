// The aggregator's settings: the windows built from the config's window_sizes (which dimensions each
// size keeps), lateness, key bounds and output limits, with the defaults and their reasons.
import { StoqError } from "../../../lib/src/errors.js";
import { DIMENSIONS, paneSizeMs, parseDuration, windowSpec, type DimensionName, type WindowSpec } from "./windows.js";
import type { AggregationSettings } from "./partition-aggregation.js";
import type { KeyBounds } from "./bounds.js";

export interface AggregatorSettings extends AggregationSettings {
  readonly bounds: KeyBounds;
  /** Transactions (outputs + changelog + offsets) are committed at least this often. */
  readonly commitIntervalMs: number;
  /** Redis time series and top-k TTL per window size, in seconds. */
  readonly redisTtlSeconds: (sizeMs: number) => number;
}

// Per-key state costs ~60 bytes per key per window, so each dimension is kept at the sizes it is read
// at: query names per second (tunnels and bursts show there; the per-minute view of a name is its
// registered domain), flows up to a minute, domains up to an hour (a domain's day is the sum of its 24
// hourly windows, which Redis keeps for a week), sources at every size.
const DIMS_SUB_MINUTE: readonly DimensionName[] = DIMENSIONS;
const DIMS_1M: readonly DimensionName[] = ["global", "node", "registered_domain", "source", "destination", "flow"];
const DIMS_1H: readonly DimensionName[] = ["global", "node", "registered_domain", "source", "destination"];
const DIMS_LONGER: readonly DimensionName[] = ["global", "node", "source"];

function dimensionsFor(sizeMs: number): readonly DimensionName[] {
  if (sizeMs < 60_000) return DIMS_SUB_MINUTE;
  if (sizeMs <= 60_000) return DIMS_1M;
  if (sizeMs <= 3_600_000) return DIMS_1H;
  return DIMS_LONGER;
}

export interface SettingsInput {
  /** Config statistical_analysis.window_sizes: ["1s", "1m", "1h", "24h"] or the same in milliseconds. */
  readonly windowSizes: readonly (string | number)[];
  readonly maxDomainsTracked: number;
  readonly concurrentFlowsLimit: number;
  /** Config performance.target_throughput_gbps, used as the link capacity of bandwidth_utilization. */
  readonly targetThroughputGbps?: number | null;
  /** Extra hopping windows, e.g. [{ size: "1m", hop: "10s" }]; default: 1m every 10s for global and node. */
  readonly hopping?: readonly { size: string; hop: string; dimensions?: readonly DimensionName[] }[];
  readonly allowedLatenessMs?: number;
  readonly outOfOrdernessMs?: number;
  readonly topK?: number;
  readonly commitIntervalMs?: number;
  /** Per-key rows per dimension published for windows shorter than a minute (default 100). */
  readonly keysPerShortWindow?: number;
}

export function aggregatorSettings(input: SettingsInput): AggregatorSettings {
  if (input.windowSizes.length === 0) throw new StoqError("CONFIG_INVALID", "statistical_analysis.window_sizes: empty; give at least one size such as \"1s\"");
  const windows: WindowSpec[] = input.windowSizes.map((s) => {
    const ms = typeof s === "number" ? s : parseDuration(s);
    return windowSpec(ms, ms, dimensionsFor(ms));
  });
  const hopping = input.hopping ?? (windows.some((w) => w.sizeMs === 60_000) ? [{ size: "1m", hop: "10s", dimensions: ["global", "node"] as DimensionName[] }] : []);
  for (const h of hopping) windows.push(windowSpec(parseDuration(h.size), parseDuration(h.hop), h.dimensions ?? ["global", "node"]));
  const names = new Set<string>();
  for (const w of windows) {
    if (names.has(w.name)) throw new StoqError("CONFIG_INVALID", `window ${w.name} is configured twice`);
    names.add(w.name);
  }
  const positive = (key: string, v: number): number => {
    if (!Number.isInteger(v) || v < 1) throw new StoqError("CONFIG_INVALID", `${key}: ${v} is not a positive integer`);
    return v;
  };
  const gbps = input.targetThroughputGbps ?? null;
  return {
    windows,
    paneMs: paneSizeMs(windows),
    // Late records up to 5 s after a window's end still revise it: covers collector flush intervals
    // and broker hiccups without holding 1 s windows for long.
    allowedLatenessMs: input.allowedLatenessMs ?? 5000,
    outOfOrdernessMs: input.outOfOrdernessMs ?? 1000,
    topK: input.topK ?? 10,
    linkCapacityBps: gbps !== null && gbps > 0 ? gbps * 1e9 : null,
    commitIntervalMs: input.commitIntervalMs ?? 200,
    // Sub-minute windows publish their heaviest keys only (a million keys a second is a firehose, not a
    // view); longer windows publish every key.
    keysPerEmission: (spec) => (spec.sizeMs < 60_000 ? (input.keysPerShortWindow ?? 100) : Infinity),
    bounds: {
      maxDomainsTracked: positive("statistical_analysis.dns_pattern_analysis.max_domains_tracked", input.maxDomainsTracked),
      concurrentFlowsLimit: positive("performance.concurrent_flows_limit", input.concurrentFlowsLimit),
      maxNodes: 4096,
    },
    // A series is kept 120 windows back (2 min of 1 s windows, 2 h of 1 min ones), a day at least for long windows.
    redisTtlSeconds: (sizeMs) => Math.max(Math.ceil((sizeMs * 120) / 1000), sizeMs >= 3_600_000 ? 7 * 86_400 : 0),
  };
}
