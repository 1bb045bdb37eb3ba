// Detector start-up: one consumer (group stoq-detector) over aggregates, DNS events, flows, certificates
// and labels with the dead-letter path, the detector set, one producer for anomalies, and the Redis state;
// anomalies are acknowledged by Kafka before the batch's offsets are committed (at-least-once,
// deterministic ids, so a replay publishes the same ids).
import { decodeAs, encode, type Anomaly, type CertObservation, type DnsEvent, type FlowRecord, type Label, type RecordName, type WindowAggregate } from "../../../lib/src/avro.js";
import { withDeadLetter } from "../../../lib/src/dead-letter.js";
import { StoqError } from "../../../lib/src/errors.js";
import { createConsumer, createProducer } from "../../../lib/src/kafka.js";
import type { RunningService, ServiceContext } from "../../../lib/src/service-runtime.js";
import { TOPICS } from "../../../lib/src/topics.js";
import { levelRank } from "./anomaly.js";
import { DetectorSet } from "./detector-set.js";
import { Fusion, type EntityThreat } from "./fusion.js";
import { LabelQuality } from "./label-quality.js";
import { loadNameScorer } from "./query-name-scorer.js";
import { aggregateOutcomes, anomaliesTotal, bandwidthCurrent, bandwidthPredicted, falseNegativeRate, falsePositiveRate, inputRecords, redisErrors, trackedSeries } from "./metrics.js";
import { StateStore } from "./state-store.js";

export interface DetectorTopics {
  readonly aggregates: string;
  readonly dns: string;
  readonly flows: string;
  readonly certs: string;
  readonly labels: string;
  readonly anomalies: string;
  readonly dlq: string;
}

export interface DetectorOptions {
  /** Topic overrides (tests use their own); an input set to "" is not consumed. */
  readonly topics?: Partial<DetectorTopics>;
  /** Default "stoq-detector". */
  readonly groupId?: string;
}

export interface RunningDetector extends RunningService {
  /** Anomalies published since start (for tests and the demo's summary). */
  readonly published: () => number;
  readonly detectors: DetectorSet;
}

type Input =
  | { readonly kind: "aggregate"; readonly value: WindowAggregate }
  | { readonly kind: "dns"; readonly value: DnsEvent }
  | { readonly kind: "flow"; readonly value: FlowRecord }
  | { readonly kind: "cert"; readonly value: CertObservation }
  | { readonly kind: "label"; readonly value: Label };

/** How often (wall clock) the bandwidth forecast is refreshed in Prometheus and Redis. */
const BANDWIDTH_REFRESH_MS = 1000;

export async function startDetector(ctx: ServiceContext, o: DetectorOptions = {}): Promise<RunningDetector> {
  const { config, log } = ctx;
  const topics: DetectorTopics = {
    aggregates: o.topics?.aggregates ?? TOPICS.aggregates,
    dns: o.topics?.dns ?? TOPICS.dns,
    flows: o.topics?.flows ?? TOPICS.flows,
    certs: o.topics?.certs ?? TOPICS.certs,
    labels: o.topics?.labels ?? TOPICS.labels,
    anomalies: o.topics?.anomalies ?? TOPICS.anomalies,
    dlq: o.topics?.dlq ?? TOPICS.dlq,
  };
  const inputs = new Map<string, { kind: Input["kind"]; record: RecordName }>(
    (
      [
        [topics.aggregates, { kind: "aggregate", record: "WindowAggregate" }],
        [topics.dns, { kind: "dns", record: "DnsEvent" }],
        [topics.flows, { kind: "flow", record: "FlowRecord" }],
        [topics.certs, { kind: "cert", record: "CertObservation" }],
        [topics.labels, { kind: "label", record: "Label" }],
      ] as const
    ).filter(([t]) => t !== ""),
  );
  const set = new DetectorSet(config, { onRow: (outcome) => aggregateOutcomes.inc({ outcome }), nameScorer: loadNameScorer(log) });
  const dnsCfg = config.statistical_analysis.dns_pattern_analysis;
  const fusion = new Fusion({ horizonMs: 3_600_000, maxEntities: dnsCfg.max_domains_tracked });
  const quality = new LabelQuality(dnsCfg.max_domains_tracked);
  const redis = ctx.redis();
  const store = new StateStore(redis);
  const producer = createProducer(ctx.kafka, { logger: log });
  let published = 0;
  let ready = false;
  let bandwidthAt = 0;

  async function redisWrite(what: string, f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (error) {
      redisErrors.inc();
      log.warn({ err: String(error), what }, "redis: state not written; Kafka has the anomalies, the next write catches up");
    }
  }

  async function qualityChanged(): Promise<void> {
    const q = quality.counts();
    falsePositiveRate.set(q.falsePositiveRate);
    falseNegativeRate.set(q.falseNegativeRate);
    await redisWrite("quality", () => store.writeQuality(q));
  }

  /** An entity an analyst or intel list calls benign keeps its anomalies, but its fused level stays low. */
  function labelled(t: EntityThreat): EntityThreat {
    if (quality.labelOf(t.entityType, t.entity) !== "benign" || levelRank(t.level) <= levelRank("low")) return t;
    return { ...t, level: "low", recommendation: `Labelled benign: ${t.recommendation}` };
  }

  async function publish(anomalies: readonly Anomaly[]): Promise<void> {
    if (anomalies.length === 0) return;
    const result = await producer.send(
      topics.anomalies,
      anomalies.map((a) => ({ key: a.entity, value: encode("Anomaly", a), timestampMs: a.detected_at_ms })),
    );
    if (result.shed > 0) log.error({ shed: result.shed }, "anomalies shed: the producer backlog was full");
    const threats = new Map<string, EntityThreat>();
    let flagged = false;
    for (const a of anomalies) {
      anomaliesTotal.inc({ detector: a.detector, threat_level: a.threat_level });
      const t = labelled(fusion.add(a));
      threats.set(`${t.entityType}:${t.entity}`, t);
      if (quality.flagged(a)) flagged = true;
      log.info({ id: a.id, detector: a.detector, entity: a.entity, level: a.threat_level, confidence: a.confidence, window: a.window_start_ms }, "anomaly");
    }
    published += anomalies.length;
    await redisWrite("anomalies", () => store.write(anomalies, [...threats.values()]));
    if (flagged) await qualityChanged();
  }

  async function refreshBandwidth(): Promise<void> {
    const now = Date.now();
    if (set.flows === null || now - bandwidthAt < BANDWIDTH_REFRESH_MS) return;
    bandwidthAt = now;
    const p = set.flows.predictBandwidth(60_000);
    if (p === null) return;
    bandwidthPredicted.set({ bound: "mean" }, p.predictedBps);
    bandwidthPredicted.set({ bound: "lower" }, p.lowerBps);
    if (Number.isFinite(p.upperBps)) bandwidthPredicted.set({ bound: "upper" }, p.upperBps);
    bandwidthCurrent.set(p.currentBps);
    await redisWrite("bandwidth", () => store.writeBandwidth(p));
  }

  const consumer = createConsumer(ctx.kafka, {
    groupId: o.groupId ?? "stoq-detector",
    topics: [...inputs.keys()],
    logger: log,
    eachBatch: withDeadLetter<Input>({
      producer,
      service: "detector",
      dlqTopic: topics.dlq,
      logger: log,
      decode: (value, record) => {
        const input = inputs.get(record.topic);
        if (input === undefined) throw new StoqError("RECORD_UNDECODABLE", `the detector does not read topic ${record.topic}`);
        return { kind: input.kind, value: decodeAs(input.record, value) } as Input;
      },
      handle: async (records, batch) => {
        inputRecords.inc({ topic: batch.topic }, batch.records.length);
        const found: Anomaly[] = [];
        const flows: FlowRecord[] = [];
        let labels = false;
        for (const { value: input } of records) {
          switch (input.kind) {
            case "aggregate":
              set.aggregate(input.value, found);
              break;
            case "dns":
              set.dnsEvent(input.value, found);
              break;
            case "flow":
              flows.push(input.value);
              break;
            case "cert":
              set.cert(input.value, found);
              break;
            case "label":
              if (quality.label(input.value)) labels = true;
              break;
          }
        }
        if (flows.length > 0) set.flowBatch(flows.sort((a, b) => a.first_seen_us - b.first_seen_us), found);
        set.advance(found);
        trackedSeries.set(set.rate.series);
        await publish(found);
        if (labels) await qualityChanged();
        if (flows.length > 0) await refreshBandwidth();
      },
    }),
  });
  await consumer.start();
  ready = true;
  log.info({ inputs: [...inputs.keys()], output: topics.anomalies, group: o.groupId ?? "stoq-detector" }, "detector consuming");
  consumer.stopped.catch((error: unknown) => {
    ready = false;
    log.fatal({ err: String(error) }, "detector consumer stopped");
  });

  return {
    ready: () => ready,
    published: () => published,
    detectors: set,
    async close() {
      ready = false;
      await consumer.close();
      await producer.close();
      redis.disconnect();
    },
  };
}
