// Aggregator start-up: the exactly-once window loop over stoq.dns.v1 and stoq.flows.v1, and the Redis
// projection of the committed aggregates for Grafana and StoqClient.
import type { RunningService, ServiceContext } from "../../../lib/src/service-runtime.js";
import { createAggregator } from "./aggregator.js";
import { createRedisSink } from "./redis-sink.js";
import { aggregatorSettings } from "./settings.js";
import { formatDuration } from "./windows.js";

// A window stays readable in Redis for this many of its own lengths, and at least an hour: enough for a
// dashboard to draw the recent past of every window size without Redis growing with the stream.
const TTL_WINDOWS = 120;
const MIN_TTL_S = 3600;

export async function startAggregator(ctx: ServiceContext): Promise<RunningService> {
  const { config, log } = ctx;
  const settings = aggregatorSettings({
    windowSizes: config.statistical_analysis.window_sizes.map(formatDuration),
    maxDomainsTracked: config.statistical_analysis.dns_pattern_analysis.max_domains_tracked,
    concurrentFlowsLimit: config.performance.concurrent_flows_limit,
    targetThroughputGbps: config.performance.target_throughput_gbps,
    allowedLatenessMs: config.aggregator.allowed_lateness,
    topK: config.aggregator.top_k,
  });
  const instance = config.aggregator.instance ?? ctx.node;
  // The transactional id derives from the instance, so a restart fences the previous incarnation.
  const aggregator = createAggregator({ kafka: ctx.kafka, settings, instance, log });
  const redis = ctx.redis();
  const sink = createRedisSink({
    kafka: ctx.kafka,
    redis,
    topic: "stoq.aggregates.v1",
    ttlSeconds: (sizeMs) => Math.max(MIN_TTL_S, Math.ceil((sizeMs * TTL_WINDOWS) / 1000)),
    topKeys: config.aggregator.top_k,
    log,
  });
  await Promise.all([aggregator.start(), sink.start()]);
  let closing = false;
  // A stopped loop (a fenced or failed transaction) is recovered by a restart from the changelog; a clean
  // stop during close() is not a failure.
  const fatal = Promise.race([aggregator.stopped, sink.stopped]).then(() => {
    if (!closing) throw new Error("aggregator loop stopped without being closed");
    return new Promise<never>(() => undefined);
  });
  return {
    ready: () => true,
    fatal,
    async close() {
      closing = true;
      await aggregator.close();
      await sink.close();
      redis.disconnect();
    },
  };
}
