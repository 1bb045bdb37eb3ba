// A child process running one aggregator instance for the kill -9 and scale-out tests. Configured by
// STOQ_AGG_TEST (JSON: topics, group, instance); prints one JSON line per committed transaction.
import { createAggregator } from "../src/aggregator.js";
import { aggregatorSettings } from "../src/settings.js";
import { createLogger } from "../../../lib/src/log.js";

interface Args {
  topics: { dns: string; flows: string; aggregates: string; state: string; dlq: string };
  group: string;
  instance: string;
}

const args = JSON.parse(process.env["STOQ_AGG_TEST"] ?? "{}") as Args;
const settings = aggregatorSettings({
  windowSizes: ["1s", "10s"],
  hopping: [{ size: "10s", hop: "5s", dimensions: ["global", "node", "registered_domain"] }],
  maxDomainsTracked: 10_000,
  concurrentFlowsLimit: 10_000,
  allowedLatenessMs: 1000,
  outOfOrdernessMs: 500,
  commitIntervalMs: 100,
  keysPerShortWindow: 1000,
});
const agg = createAggregator({
  kafka: { brokers: ["127.0.0.1:9092"], clientId: `agg-test-${args.instance}` },
  settings,
  groupId: args.group,
  instance: args.instance,
  topics: args.topics,
  statePartitions: 2,
  maxBatchRecords: 300,
  log: createLogger("aggregator-test", (process.env["STOQ_LOG_LEVEL"] as "warn" | undefined) ?? "warn"),
  onCommitted: (rows) => process.stdout.write(`${JSON.stringify({ committed: rows.length, ...agg.stats() })}\n`),
});
await agg.start();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
agg.stopped.catch((e: unknown) => {
  process.stderr.write(`stopped: ${String(e)}\n`);
  process.exit(3);
});
process.on("SIGTERM", () => {
  void agg.close().then(() => process.exit(0));
});
