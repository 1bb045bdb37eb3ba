// `stoq detector`: runs the detector service (window baselines and named-threat detectors → anomalies).
import { parseArgs } from "node:util";
import { runService } from "../lib/src/service-runtime.js";
import { startDetector } from "../services/detector/src/index.js";

export const usage = `usage: stoq detector [--port N]

Consumes window aggregates (stoq.aggregates.v1, consumer group stoq-detector), keeps an EWMA baseline of
each window's count per (window size, dimension, key), and publishes outliers as anomalies with
deterministic ids to stoq.anomalies.v1; the current state goes to Redis (anomaly:<id>,
anomalies:recent, threat:<type>:<entity>, threats) and counts to Prometheus (stoq_anomalies_total).
  --port N   metrics port (default from config; 0 = any free port)
Config: STOQ_CONFIG_PATH (statistical_analysis.dns_pattern_analysis.{anomaly_threshold,
pattern_learning_rate}, detector.*, aggregator.allowed_lateness, infrastructure.*). See docs/detector.md.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: "string" } } });
  return runService("detector", (ctx) => startDetector(ctx), {
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
  });
}
