// The detector's Prometheus metrics (prom-client default registry, served on /metrics). Labels stay
// bounded: detector names and threat levels, never entities (those go to Redis).
import { Counter, Gauge } from "prom-client";

export const anomaliesTotal = new Counter({
  name: "stoq_anomalies_total",
  help: "Anomalies published to stoq.anomalies.v1 (each id once), by detector and threat level.",
  labelNames: ["detector", "threat_level"],
});

export const inputRecords = new Counter({
  name: "stoq_detector_input_records_total",
  help: "Records the detector consumed, by input topic.",
  labelNames: ["topic"],
});

export const aggregateOutcomes = new Counter({
  name: "stoq_detector_aggregate_rows_total",
  help: "Window aggregate rows by what they did: new window, revision, unchanged (a re-read revision), too_late (window already closed and forgotten).",
  labelNames: ["outcome"],
});

export const redisErrors = new Counter({
  name: "stoq_detector_redis_errors_total",
  help: "Redis writes that failed; Kafka stays the record of anomalies, Redis catches up with the next write.",
});

export const trackedSeries = new Gauge({
  name: "stoq_detector_series",
  help: "Series (stream, window, dimension, key) with a baseline.",
});

export const falsePositiveRate = new Gauge({
  name: "stoq_false_positive_rate",
  help: "Share of labelled detections whose entity is labelled benign (0..1), over the labels seen so far.",
});

export const falseNegativeRate = new Gauge({
  name: "stoq_false_negative_rate",
  help: "Share of entities labelled malicious or suspicious that no detector flagged (0..1).",
});

export const bandwidthPredicted = new Gauge({
  name: "stoq_bandwidth_predicted_bits_per_second",
  help: "Flow bit rate predicted 60 s ahead (bound: mean, lower and upper of the 95 % interval).",
  labelNames: ["bound"],
});

export const bandwidthCurrent = new Gauge({
  name: "stoq_bandwidth_current_bits_per_second",
  help: "Flow bit rate over the last 10 complete seconds.",
});
