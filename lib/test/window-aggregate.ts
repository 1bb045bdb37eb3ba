// A WindowAggregate record for tests: a one-minute tumbling window of one DNS key, every field set, with
// what a test is about given as overrides.
import type { WindowAggregate } from "../src/avro.js";

export function windowAggregate(o: Partial<WindowAggregate>): WindowAggregate {
  return {
    window_start_ms: 60_000,
    window_end_ms: 120_000,
    size_ms: 60_000,
    hop_ms: 60_000,
    kind: "tumbling",
    dimension: "registered_domain",
    key: "example.com",
    stream: "dns",
    count: 10,
    rate_per_s: 10 / 60,
    measures: [],
    distinct: [],
    top_k_of: null,
    top_k: [],
    flow_stats: null,
    late_count: 0,
    final: false,
    aggregator_instance: "stoq.dns.v1/0",
    revision: 0,
    ...o,
  };
}
