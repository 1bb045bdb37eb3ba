// Builders of WindowAggregate rows for the detector's tests: the shapes the aggregator emits for the
// DNS stream (stream "dns", indicator measure "nxdomain") and the flow stream ("flow", "rst").
import type { Dimension, WindowAggregate } from "../../../lib/src/avro.js";

export interface RowSpec {
  readonly start: number;
  readonly count: number;
  readonly sizeMs?: number;
  readonly dimension?: Dimension;
  readonly key?: string;
  readonly stream?: "dns" | "flow";
  readonly task?: string;
  readonly revision?: number;
  readonly kind?: "tumbling" | "hopping";
  readonly hopMs?: number;
  readonly topK?: { key: string; count: number }[];
}

export function row(o: RowSpec): WindowAggregate {
  const size = o.sizeMs ?? 1000;
  const p = 0.01;
  return {
    window_start_ms: o.start,
    window_end_ms: o.start + size,
    size_ms: size,
    hop_ms: o.hopMs ?? size,
    kind: o.kind ?? "tumbling",
    dimension: o.dimension ?? "global",
    key: o.key ?? "",
    stream: o.stream ?? "dns",
    count: o.count,
    rate_per_s: o.count / (size / 1000),
    measures: [
      { name: (o.stream ?? "dns") === "dns" ? "nxdomain" : "rst", count: o.count, mean: p, variance: p * (1 - p), min: 0, max: 1, p50: null, p90: null, p99: null },
    ],
    distinct: [],
    top_k_of: o.topK ? "registered_domain" : null,
    top_k: o.topK ?? [],
    flow_stats: null,
    late_count: 0,
    final: false,
    aggregator_instance: o.task ?? "dns-0",
    revision: o.revision ?? 0,
  };
}

/** The Kafka key the aggregator gives a row: "<stream>/<size_ms>/<window_start_ms>/<dimension>/<key>". */
export function rowKey(r: WindowAggregate): string {
  return `${r.stream ?? ""}/${r.size_ms}/${r.window_start_ms}/${r.dimension}/${r.key}`;
}
