// `stoq up`: starts the embedded stack and creates the topics; a second run finds everything up and
// returns in about a second.
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/src/config.js";
import { stackUp } from "../lib/src/stack.js";

export const usage = `usage: stoq up [--timeout SECONDS] [--quiet]

Starts Kafka (KRaft), Redis and Prometheus on 127.0.0.1 with state under STOQ_STATE_DIR (.stoq),
waits until each answers, then creates the STOQ topics. Components already running are left alone.
Prometheus's alert rules come from monitoring.alert_thresholds of the config (STOQ_CONFIG_PATH).
  --timeout SECONDS  per-component start-up deadline (default 90)
  --quiet            print nothing unless it fails`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { timeout: { type: "string" }, quiet: { type: "boolean" } } });
  const timeoutS = Number(values.timeout ?? "90");
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout ${values.timeout} is not a positive number of seconds`);
  const say = values.quiet ? () => undefined : (line: string) => process.stdout.write(`stoq up: ${line}\n`);
  const { alert_thresholds } = loadConfig().monitoring;
  const result = await stackUp({ alertThresholds: alert_thresholds, timeoutMs: timeoutS * 1000, progress: say });
  const what = result.started.length === 0 ? "already running" : `started ${result.started.join(", ")}`;
  say(`stack up (${what}) in ${(result.elapsedMs / 1000).toFixed(1)} s`);
  return 0;
}
