// Prometheus alerting rules rendered from the config's monitoring.alert_thresholds; loaded by the stack's
// Prometheus and written to deploy/prometheus/rules/ for docker-compose and Kubernetes.
import { stringify } from "yaml";

/** The three numbers of `monitoring.alert_thresholds` in the seed config. */
export interface AlertThresholds {
  /** p99 of stoq_processing_latency_seconds (kernel to producer, per collector) above this many microseconds fires StoqLatencyP99High. */
  readonly latency_p99_us: number;
  /** A collector's 5-minute packet rate (kernel hooks) this many percent below its previous 30 minutes' fires StoqThroughputDrop. */
  readonly throughput_drop_percent: number;
  /** stoq_false_positive_rate (a 0..1 gauge) above this fires StoqFalsePositiveRateHigh. */
  readonly false_positive_rate: number;
  /**
   * A consumer's lag on one partition (stoq_consumer_lag_records) above this many records fires
   * StoqConsumerLagHigh; default CONSUMER_LAG_RECORDS (the seed config has no such threshold).
   */
  readonly consumer_lag_records?: number;
}

/**
 * Default lag threshold. A consumer that keeps up still lags by what it has fetched and not yet handled:
 * up to 50,000 buffered records and 16 MiB per fetch (lib/src/kafka.ts), a few hundred thousand DNS
 * events at most; a million records held for the alert's five minutes is a consumer falling behind.
 */
export const CONSUMER_LAG_RECORDS = 1_000_000;

/** The metrics the rules read, each registered by a service (the dashboards test checks every name). */
export const ALERT_METRICS = {
  latency: "stoq_processing_latency_seconds",
  packets: 'stoq_kernel_stat_total{stat="packets"}',
  falsePositiveRate: "stoq_false_positive_rate",
  consumerLag: "stoq_consumer_lag_records",
} as const;

/** How long a condition must hold before the alert fires; short blips are not worth a page. */
const FOR = "5m";

function check(name: keyof AlertThresholds, value: number, ok: boolean, allowed: string): void {
  if (!Number.isFinite(value) || !ok) {
    throw new Error(`monitoring.alert_thresholds.${name}=${value} is invalid; allowed: ${allowed}`);
  }
}

/** Returns the rules file (YAML) for Prometheus; `promtool check rules` accepts it. */
export function renderAlertRules(t: AlertThresholds): string {
  check("latency_p99_us", t.latency_p99_us, t.latency_p99_us > 0, "a number > 0");
  check("throughput_drop_percent", t.throughput_drop_percent, t.throughput_drop_percent > 0 && t.throughput_drop_percent <= 100, "a number in (0, 100]");
  check("false_positive_rate", t.false_positive_rate, t.false_positive_rate >= 0 && t.false_positive_rate <= 1, "a number in [0, 1]");
  const lag = t.consumer_lag_records ?? CONSUMER_LAG_RECORDS;
  check("consumer_lag_records", lag, lag > 0, "a number > 0");

  const latencySeconds = t.latency_p99_us / 1e6;
  const keep = 1 - t.throughput_drop_percent / 100;
  // The baseline is the 30 minutes before the current 5-minute window: long enough that a lasting drop
  // keeps firing for a while instead of becoming the new normal after one window.
  // Per collector (instance), not per job: one node going quiet must not hide behind the fleet's sum.
  const rate = `sum by (instance) (rate(${ALERT_METRICS.packets}[5m]))`;
  const rateBefore = `sum by (instance) (rate(${ALERT_METRICS.packets}[30m] offset 5m))`;
  const doc = {
    groups: [
      {
        name: "stoq-alert-thresholds",
        rules: [
          {
            alert: "StoqLatencyP99High",
            expr: `histogram_quantile(0.99, sum by (instance, le) (rate(${ALERT_METRICS.latency}_bucket[5m]))) > ${latencySeconds}`,
            for: FOR,
            labels: { severity: "warning" },
            annotations: {
              summary: `{{ $labels.instance }}: p99 processing latency (kernel to producer) above ${t.latency_p99_us} us`,
              description: "p99 is {{ $value | humanizeDuration }} over the last 5 minutes.",
            },
          },
          {
            alert: "StoqThroughputDrop",
            // A collector that was idle before cannot have dropped; `> 0` keeps it out.
            expr: `(${rate}) < ${keep} * (${rateBefore}) and (${rateBefore}) > 0`,
            for: FOR,
            labels: { severity: "warning" },
            annotations: {
              summary: `{{ $labels.instance }}: packet rate down more than ${t.throughput_drop_percent}% against the previous 30 minutes`,
              description: "Current rate {{ $value | humanize }} packets/s.",
            },
          },
          {
            alert: "StoqFalsePositiveRateHigh",
            expr: `max by (job) (${ALERT_METRICS.falsePositiveRate}) > ${t.false_positive_rate}`,
            for: FOR,
            labels: { severity: "warning" },
            annotations: {
              summary: `{{ $labels.job }}: false-positive rate above ${t.false_positive_rate}`,
              description: "False-positive rate is {{ $value | humanizePercentage }}.",
            },
          },
          {
            alert: "StoqConsumerLagHigh",
            // Per service and partition: the gauge is the member's that owns the partition (the others
            // drop it), and one partition falling behind is a stuck task, not a fleet average.
            expr: `max by (job, topic, partition) (${ALERT_METRICS.consumerLag}) > ${lag}`,
            for: FOR,
            labels: { severity: "warning" },
            annotations: {
              summary: `{{ $labels.job }}: consumer lag on {{ $labels.topic }}/{{ $labels.partition }} above ${lag} records`,
              description: "Lag is {{ $value | humanize }} records.",
            },
          },
        ],
      },
    ],
  };
  return `# Rendered by lib/src/alert-rules.ts from monitoring.alert_thresholds; do not edit by hand.\n${stringify(doc, { lineWidth: 0 })}`;
}
