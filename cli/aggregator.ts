// `stoq aggregator`: runs the aggregator service.
import { parseArgs } from "node:util";
import { runService } from "../lib/src/service-runtime.js";
import { startAggregator } from "../services/aggregator/src/index.js";

export const usage = `usage: stoq aggregator [--port N]

Computes event-time windows (statistical_analysis.window_sizes, tumbling, plus a 1m/10s hopping window)
over stoq.dns.v1 and stoq.flows.v1, exactly once through Kafka transactions, publishes
stoq.aggregates.v1 and projects it into Redis (agg:, ts:, top: keys under infrastructure.redis.key_prefix).
Several instances share the partitions of one consumer group; aggregator.instance names this one.
  --port N  metrics port (default from config; 0 = any free port)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: "string" } } });
  return runService("aggregator", startAggregator, values.port !== undefined ? { port: Number(values.port) } : {});
}
