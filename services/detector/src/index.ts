// Detector start-up: one consumer (group stoq-detector) over its input topics with the dead-letter path,
// the detectors, one producer for anomalies, and the Redis state; anomalies are acknowledged by Kafka
// before the batch's offsets are committed (at-least-once, deterministic ids).
import { decodeAs, encode, type Anomaly, type WindowAggregate } from "../../../lib/src/avro.js";
import { withDeadLetter } from "../../../lib/src/dead-letter.js";
import { createConsumer, createProducer } from "../../../lib/src/kafka.js";
import type { RunningService, ServiceContext } from "../../../lib/src/service-runtime.js";
import { TOPICS } from "../../../lib/src/topics.js";
import { Fusion, type EntityThreat } from "./fusion.js";
import { aggregateOutcomes, anomaliesTotal, inputRecords, redisErrors, trackedSeries } from "./metrics.js";
import { RateDetector } from "./rate-detector.js";
import { StateStore } from "./state-store.js";

export interface DetectorOptions {
  /** Topic overrides (tests use their own). */
  readonly topics?: { readonly aggregates?: string; readonly anomalies?: string; readonly dlq?: string };
  /** Default "stoq-detector". */
  readonly groupId?: string;
}

export interface RunningDetector extends RunningService {
  /** Anomalies published since start (for tests and the demo's summary). */
  readonly published: () => number;
}

type Input = { readonly kind: "aggregate"; readonly value: WindowAggregate };

export async function startDetector(ctx: ServiceContext, o: DetectorOptions = {}): Promise<RunningDetector> {
  const { config, log } = ctx;
  const topics = {
    aggregates: o.topics?.aggregates ?? TOPICS.aggregates,
    anomalies: o.topics?.anomalies ?? TOPICS.anomalies,
    dlq: o.topics?.dlq ?? TOPICS.dlq,
  };
  const dns = config.statistical_analysis.dns_pattern_analysis;
  const rate = new RateDetector({
    learningRate: dns.pattern_learning_rate,
    threshold: dns.anomaly_threshold,
    warmupWindows: config.detector.warmup_windows,
    minWindowCount: config.detector.min_window_count,
    closeDelayMs: config.aggregator.allowed_lateness,
    maxSeries: dns.max_domains_tracked,
    onRow: (outcome) => aggregateOutcomes.inc({ outcome }),
  });
  const fusion = new Fusion({ horizonMs: 3_600_000, maxEntities: dns.max_domains_tracked });
  const redis = ctx.redis();
  const store = new StateStore(redis);
  const producer = createProducer(ctx.kafka, { logger: log });
  let published = 0;
  let ready = false;

  async function publish(anomalies: readonly Anomaly[]): Promise<void> {
    if (anomalies.length === 0) return;
    const result = await producer.send(
      topics.anomalies,
      anomalies.map((a) => ({ key: a.entity, value: encode("Anomaly", a), timestampMs: a.detected_at_ms })),
    );
    if (result.shed > 0) log.error({ shed: result.shed }, "anomalies shed: the producer backlog was full");
    const threats = new Map<string, EntityThreat>();
    for (const a of anomalies) {
      anomaliesTotal.inc({ detector: a.detector, threat_level: a.threat_level });
      const t = fusion.add(a);
      threats.set(`${t.entityType}:${t.entity}`, t);
      log.info({ id: a.id, detector: a.detector, entity: a.entity, level: a.threat_level, z: a.z_score, window: a.window_start_ms }, "anomaly");
    }
    published += anomalies.length;
    try {
      await store.write(anomalies, [...threats.values()]);
    } catch (error) {
      redisErrors.inc();
      log.warn({ err: String(error) }, "redis: anomaly state not written; Kafka has the anomalies");
    }
  }

  const consumer = createConsumer(ctx.kafka, {
    groupId: o.groupId ?? "stoq-detector",
    topics: [topics.aggregates],
    logger: log,
    eachBatch: withDeadLetter<Input>({
      producer,
      service: "detector",
      dlqTopic: topics.dlq,
      logger: log,
      decode: (value) => ({ kind: "aggregate", value: decodeAs<WindowAggregate>("WindowAggregate", value) }),
      handle: async (records, batch) => {
        inputRecords.inc({ topic: batch.topic }, batch.records.length);
        const found: Anomaly[] = [];
        for (const r of records) found.push(...rate.ingest(r.value.value));
        trackedSeries.set(rate.series);
        await publish(found);
      },
    }),
  });
  await consumer.start();
  ready = true;
  log.info({ input: topics.aggregates, output: topics.anomalies, group: o.groupId ?? "stoq-detector" }, "detector consuming");
  consumer.stopped.catch((error: unknown) => {
    ready = false;
    log.fatal({ err: String(error) }, "detector consumer stopped");
  });

  return {
    ready: () => ready,
    published: () => published,
    async close() {
      ready = false;
      await consumer.close();
      await producer.close();
      redis.disconnect();
    },
  };
}
