// The consumer-lag alert of lib/src/alert-rules.ts, evaluated by promtool on series either side of its
// threshold (the other rules' promtool tests are in stack.test.ts).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { CONSUMER_LAG_RECORDS, renderAlertRules, type AlertThresholds } from "../src/alert-rules.js";

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stoq-lag-rules-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const SEED: AlertThresholds = { latency_p99_us: 100, throughput_drop_percent: 10, false_positive_rate: 0.02 };

// Per partition: lag held above the default threshold for the last 10 minutes (fires), one that spiked
// above it for 2 minutes only (shorter than the rule's 5 minutes: silent), one just under it (silent),
// and two processes of one service whose larger report counts. Evaluated at minute 30.
const inputSeries = [
  { series: 'stoq_consumer_lag_records{job="stoq-aggregator",instance="a",topic="stoq.dns.v1",partition="0"}', values: "1000x20 1500000x10" },
  { series: 'stoq_consumer_lag_records{job="stoq-aggregator",instance="a",topic="stoq.dns.v1",partition="1"}', values: "1000x27 5000000x2 1000" },
  { series: 'stoq_consumer_lag_records{job="stoq-aggregator",instance="b",topic="stoq.flows.v1",partition="0"}', values: "999999x30" },
  { series: 'stoq_consumer_lag_records{job="stoq-detector",instance="c",topic="stoq.aggregates.v1",partition="2"}', values: "200000x30" },
  { series: 'stoq_consumer_lag_records{job="stoq-detector",instance="d",topic="stoq.aggregates.v1",partition="2"}', values: "2500000x30" },
];

async function expectLagAlerts(t: AlertThresholds, alerts: { labels: Record<string, string>; summary: string; description: string }[]): Promise<void> {
  const rules = path.join(dir, `rules-${t.consumer_lag_records ?? "default"}.yml`);
  fs.writeFileSync(rules, renderAlertRules(t));
  const spec = {
    rule_files: [rules],
    evaluation_interval: "1m",
    tests: [
      {
        interval: "1m",
        input_series: inputSeries,
        alert_rule_test: [
          {
            eval_time: "30m",
            alertname: "StoqConsumerLagHigh",
            exp_alerts: alerts.map((a) => ({ exp_labels: { ...a.labels, severity: "warning" }, exp_annotations: { summary: a.summary, description: a.description } })),
          },
        ],
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

test("consumer lag: fires on a partition held above the threshold, silent under it and on a short spike", async () => {
  assert.equal(CONSUMER_LAG_RECORDS, 1_000_000);
  await expectLagAlerts(SEED, [
    { labels: { job: "stoq-aggregator", topic: "stoq.dns.v1", partition: "0" }, summary: "stoq-aggregator: consumer lag on stoq.dns.v1/0 above 1000000 records", description: "Lag is 1.5M records." },
    { labels: { job: "stoq-detector", topic: "stoq.aggregates.v1", partition: "2" }, summary: "stoq-detector: consumer lag on stoq.aggregates.v1/2 above 1000000 records", description: "Lag is 2.5M records." },
  ]);
});

test("consumer lag: the threshold comes from the parameter", async () => {
  await expectLagAlerts({ ...SEED, consumer_lag_records: 100_000 }, [
    { labels: { job: "stoq-aggregator", topic: "stoq.dns.v1", partition: "0" }, summary: "stoq-aggregator: consumer lag on stoq.dns.v1/0 above 100000 records", description: "Lag is 1.5M records." },
    { labels: { job: "stoq-aggregator", topic: "stoq.flows.v1", partition: "0" }, summary: "stoq-aggregator: consumer lag on stoq.flows.v1/0 above 100000 records", description: "Lag is 1000k records." },
    { labels: { job: "stoq-detector", topic: "stoq.aggregates.v1", partition: "2" }, summary: "stoq-detector: consumer lag on stoq.aggregates.v1/2 above 100000 records", description: "Lag is 2.5M records." },
  ]);
  assert.throws(() => renderAlertRules({ ...SEED, consumer_lag_records: 0 }), /monitoring\.alert_thresholds\.consumer_lag_records=0 is invalid; allowed: a number > 0/);
});
