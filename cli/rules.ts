// `stoq rules`: prints (or writes) the Prometheus alert rules rendered from the alert thresholds, the
// same file `stoq up` loads into the stack's Prometheus.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { renderAlertRules } from "../lib/src/alert-rules.js";
import { loadConfig } from "../lib/src/config.js";

export const usage = `usage: stoq rules [--out FILE]

Renders the alert rules from monitoring.alert_thresholds (latency_p99_us, throughput_drop_percent,
false_positive_rate) of the config (STOQ_CONFIG_PATH, default config/stoq.yaml).
deploy/prometheus/rules/stoq-alerts.yml is this output for config/stoq.yaml:
  bin/stoq rules --out deploy/prometheus/rules/stoq-alerts.yml
  --out FILE  write to FILE instead of standard output`;

export function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { out: { type: "string" } } });
  const text = renderAlertRules(loadConfig().monitoring.alert_thresholds);
  if (values.out === undefined) process.stdout.write(text);
  else fs.writeFileSync(values.out, text);
  return Promise.resolve(0);
}
