// `stoq detector`: runs the detector service (window baselines and named-threat detectors → anomalies).
import { parseArgs } from "node:util";
import { runService } from "../lib/src/service-runtime.js";
import { startDetector } from "../services/detector/src/index.js";

export const usage = `usage: stoq detector [--group NAME] [--port N]

Consumes window aggregates, DNS events, flows, certificates and labels (consumer group stoq-detector):
EWMA baselines of window counts, DNS tunnels/DGA/NXDOMAIN storms/amplification, scans, SYN floods,
congestion, bandwidth forecast, certificate health. Publishes anomalies with deterministic ids to
stoq.anomalies.v1; the current state goes to Redis (anomaly:<id>, anomalies:recent,
threat:<type>:<entity>, threats, detector:quality, bandwidth:prediction) and counts to Prometheus
(stoq_anomalies_total, stoq_false_positive_rate, ...).
  --group NAME  consumer group (default stoq-detector; another name replays every input from the start)
  --port N      metrics port (default from config; 0 = any free port)
Config: STOQ_CONFIG_PATH (statistical_analysis.dns_pattern_analysis.{anomaly_threshold,
pattern_learning_rate}, detector.*, aggregator.allowed_lateness, infrastructure.*). See docs/detector.md.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: "string" }, group: { type: "string" } } });
  return runService("detector", (ctx) => startDetector(ctx, values.group !== undefined ? { groupId: values.group } : {}), {
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
  });
}
