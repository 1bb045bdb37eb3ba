// The aggregator's Prometheus metrics (prom-client default registry). Labels are bounded by the config:
// stream (dns, flow), window (the configured specs) and dimension (seven); keys never become labels,
// the heavy hitters go to Redis instead.
import { Counter, Gauge, Histogram } from "prom-client";

export const aggregatorMetrics = {
  records: new Counter({ name: "stoq_aggregator_records_total", help: "Input records aggregated.", labelNames: ["stream"] }),
  replaySkipped: new Counter({ name: "stoq_aggregator_replay_skipped_total", help: "Records re-read after a restart that the changelog already held.", labelNames: ["stream"] }),
  lateDropped: new Counter({ name: "stoq_aggregator_late_dropped_total", help: "Records later than the allowed lateness of every window: counted here, not aggregated.", labelNames: ["stream"] }),
  emissions: new Counter({ name: "stoq_aggregator_window_emissions_total", help: "Window emissions (first results and revisions).", labelNames: ["stream", "window", "kind"] }),
  rows: new Counter({ name: "stoq_aggregator_rows_total", help: "WindowAggregate records produced.", labelNames: ["stream", "window"] }),
  keyOverflow: new Counter({ name: "stoq_aggregator_key_overflow_total", help: "Records whose key did not fit the dimension's bound and went to the (other) bucket.", labelNames: ["dimension"] }),
  trackedKeys: new Gauge({ name: "stoq_aggregator_tracked_keys", help: "Keys held in the key tables.", labelNames: ["dimension"] }),
  stateBytes: new Gauge({ name: "stoq_aggregator_state_bytes", help: "Bytes of typed arrays holding window state and key tables." }),
  watermarkLag: new Gauge({ name: "stoq_aggregator_watermark_lag_seconds", help: "Wall clock minus the lowest task watermark.", labelNames: ["stream"] }),
  windowCount: new Gauge({ name: "stoq_aggregator_window_records", help: "Records in the last emitted window of this instance's partitions (global key).", labelNames: ["stream", "window"] }),
  transactions: new Counter({ name: "stoq_aggregator_transactions_total", help: "Kafka transactions committed (aggregates + changelog + offsets)." }),
  checkpointSeconds: new Histogram({ name: "stoq_aggregator_checkpoint_seconds", help: "Time to commit one transaction.", buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] }),
  restoreSeconds: new Histogram({ name: "stoq_aggregator_restore_seconds", help: "Time to rebuild a task from the changelog.", buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] }),
  redisWrites: new Counter({ name: "stoq_aggregator_redis_rows_total", help: "Aggregates written to Redis by the sink." }),
};
