// The alerting rules of lib/src/alert-rules.ts, evaluated by promtool on series either side of each
// threshold, and the rendered copy in deploy/ kept equal to what the config renders.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { CONSUMER_LAG_RECORDS, renderAlertRules, type AlertThresholds } from "../src/alert-rules.js";
import { loadConfig } from "../src/config.js";
import { REPO_ROOT } from "../src/stack-endpoints.js";

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stoq-rules-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The seed's monitoring.alert_thresholds. */
const SEED: AlertThresholds = { latency_p99_us: 100, throughput_drop_percent: 10, false_positive_rate: 0.02 };

interface ExpectedAlert {
  labels: Record<string, string>;
  summary: string;
  description: string;
}
interface InputSeries {
  series: string;
  values: string;
}

let written = 0;

/**
 * Renders the rules for `t`, and has promtool evaluate them on `series` (one sample a minute) at
 * `evalTime`: each alert named in `expected` must fire exactly for the listed label sets.
 */
async function expectAlerts(t: AlertThresholds, series: readonly InputSeries[], evalTime: string, expected: Record<string, ExpectedAlert[]>): Promise<void> {
  const rules = path.join(dir, `rules-${++written}.yml`);
  fs.writeFileSync(rules, renderAlertRules(t));
  const spec = {
    rule_files: [rules],
    evaluation_interval: "1m",
    tests: [
      {
        interval: "1m",
        input_series: series,
        alert_rule_test: Object.entries(expected).map(([alertname, alerts]) => ({
          eval_time: evalTime,
          alertname,
          exp_alerts: alerts.map((a) => ({ exp_labels: { ...a.labels, severity: "warning" }, exp_annotations: { summary: a.summary, description: a.description } })),
        })),
      },
    ],
  };
  const file = path.join(dir, `test-${path.basename(rules)}`);
  fs.writeFileSync(file, stringify(spec));
  try {
    await run("promtool", ["test", "rules", file]);
  } catch (e) {
    const out = e as { stdout?: string; stderr?: string };
    assert.fail(`promtool test rules failed:\n${out.stdout ?? ""}${out.stderr ?? String(e)}`);
  }
}

test("promtool check rules accepts them", async () => {
  const rules = path.join(dir, "check.yml");
  fs.writeFileSync(rules, renderAlertRules(SEED));
  const { stdout } = await run("promtool", ["check", "rules", rules]);
  assert.match(stdout, /SUCCESS: 4 rules found/);
});

// Series that sit on either side of the seed thresholds: p99 about 199 us vs 50 us, a 20% vs a 5%
// packet-rate drop at minute 40 (after a history longer than the 30-minute baseline), a 5% vs a 1%
// false-positive rate. promtool evaluates the rules on them at minute 50.
const seedSeries: InputSeries[] = [
  ...["0.00005", "0.0001", "0.0002", "+Inf"].map((le) => ({
    series: `stoq_processing_latency_seconds_bucket{instance="slow",le="${le}"}`,
    values: le === "0.00005" || le === "0.0001" ? "0x60" : "0+600x60",
  })),
  ...["0.00005", "0.0001", "0.0002", "+Inf"].map((le) => ({
    series: `stoq_processing_latency_seconds_bucket{instance="fast",le="${le}"}`,
    values: "0+600x60",
  })),
  // Two hooks of one collector add up; the other stats of the same counter are not packets.
  { series: 'stoq_kernel_stat_total{instance="dropping",hook="xdp_ingress",stat="packets"}', values: "0+300x40 12240+240x20" },
  { series: 'stoq_kernel_stat_total{instance="dropping",hook="tc_egress",stat="packets"}', values: "0+300x40 12240+240x20" },
  { series: 'stoq_kernel_stat_total{instance="dropping",hook="xdp_ingress",stat="dns_query"}', values: "0+600x60" },
  { series: 'stoq_kernel_stat_total{instance="dipping",hook="xdp_ingress",stat="packets"}', values: "0+600x40 24570+570x20" },
  { series: 'stoq_false_positive_rate{job="noisy"}', values: "0.05x60" },
  { series: 'stoq_false_positive_rate{job="quiet"}', values: "0.01x60" },
];

test("each alert fires above its seed threshold and stays silent below it", async () => {
  await expectAlerts(SEED, seedSeries, "50m", {
    StoqLatencyP99High: [{ labels: { instance: "slow" }, summary: "slow: p99 processing latency (kernel to producer) above 100 us", description: "p99 is 199us over the last 5 minutes." }],
    StoqThroughputDrop: [{ labels: { instance: "dropping" }, summary: "dropping: packet rate down more than 10% against the previous 30 minutes", description: "Current rate 8 packets/s." }],
    StoqFalsePositiveRateHigh: [{ labels: { job: "noisy" }, summary: "noisy: false-positive rate above 0.02", description: "False-positive rate is 5%." }],
  });
});

test("the thresholds come from the parameters, not from constants", async () => {
  await expectAlerts({ latency_p99_us: 250, throughput_drop_percent: 30, false_positive_rate: 0.001 }, seedSeries, "50m", {
    StoqLatencyP99High: [],
    StoqThroughputDrop: [],
    StoqFalsePositiveRateHigh: [
      { labels: { job: "noisy" }, summary: "noisy: false-positive rate above 0.001", description: "False-positive rate is 5%." },
      { labels: { job: "quiet" }, summary: "quiet: false-positive rate above 0.001", description: "False-positive rate is 1%." },
    ],
  });
});

test("a threshold out of range is refused with the key, the value and what is allowed", () => {
  assert.throws(
    () => renderAlertRules({ ...SEED, throughput_drop_percent: 150 }),
    /monitoring\.alert_thresholds\.throughput_drop_percent=150 is invalid; allowed: a number in \(0, 100\]/,
  );
});

// Per partition: lag held above the default threshold for the last 10 minutes (fires), one that spiked
// above it for 2 minutes only (shorter than the rule's 5 minutes: silent), one just under it (silent),
// and two processes of one service whose larger report counts. Evaluated at minute 30.
const lagSeries: InputSeries[] = [
  { series: 'stoq_consumer_lag_records{job="stoq-aggregator",instance="a",topic="stoq.dns.v1",partition="0"}', values: "1000x20 1500000x10" },
  { series: 'stoq_consumer_lag_records{job="stoq-aggregator",instance="a",topic="stoq.dns.v1",partition="1"}', values: "1000x27 5000000x2 1000" },
  { series: 'stoq_consumer_lag_records{job="stoq-aggregator",instance="b",topic="stoq.flows.v1",partition="0"}', values: "999999x30" },
  { series: 'stoq_consumer_lag_records{job="stoq-detector",instance="c",topic="stoq.aggregates.v1",partition="2"}', values: "200000x30" },
  { series: 'stoq_consumer_lag_records{job="stoq-detector",instance="d",topic="stoq.aggregates.v1",partition="2"}', values: "2500000x30" },
];

test("consumer lag: fires on a partition held above the threshold, silent under it and on a short spike", async () => {
  assert.equal(CONSUMER_LAG_RECORDS, 1_000_000);
  await expectAlerts(SEED, lagSeries, "30m", {
    StoqConsumerLagHigh: [
      { labels: { job: "stoq-aggregator", topic: "stoq.dns.v1", partition: "0" }, summary: "stoq-aggregator: consumer lag on stoq.dns.v1/0 above 1000000 records", description: "Lag is 1.5M records." },
      { labels: { job: "stoq-detector", topic: "stoq.aggregates.v1", partition: "2" }, summary: "stoq-detector: consumer lag on stoq.aggregates.v1/2 above 1000000 records", description: "Lag is 2.5M records." },
    ],
  });
});

test("consumer lag: the threshold comes from the parameter", async () => {
  await expectAlerts({ ...SEED, consumer_lag_records: 100_000 }, lagSeries, "30m", {
    StoqConsumerLagHigh: [
      { labels: { job: "stoq-aggregator", topic: "stoq.dns.v1", partition: "0" }, summary: "stoq-aggregator: consumer lag on stoq.dns.v1/0 above 100000 records", description: "Lag is 1.5M records." },
      { labels: { job: "stoq-aggregator", topic: "stoq.flows.v1", partition: "0" }, summary: "stoq-aggregator: consumer lag on stoq.flows.v1/0 above 100000 records", description: "Lag is 1000k records." },
      { labels: { job: "stoq-detector", topic: "stoq.aggregates.v1", partition: "2" }, summary: "stoq-detector: consumer lag on stoq.aggregates.v1/2 above 100000 records", description: "Lag is 2.5M records." },
    ],
  });
  assert.throws(() => renderAlertRules({ ...SEED, consumer_lag_records: 0 }), /monitoring\.alert_thresholds\.consumer_lag_records=0 is invalid; allowed: a number > 0/);
});

test("deploy/prometheus/rules holds the rules rendered from config/stoq.yaml's thresholds", () => {
  const committed = fs.readFileSync(path.join(REPO_ROOT, "deploy/prometheus/rules/stoq-alerts.yml"), "utf8");
  const { alert_thresholds } = loadConfig({ path: path.join(REPO_ROOT, "config/stoq.yaml"), env: {} }).monitoring;
  assert.equal(committed, renderAlertRules(alert_thresholds), "re-render: bin/stoq rules --out deploy/prometheus/rules/stoq-alerts.yml");
});
