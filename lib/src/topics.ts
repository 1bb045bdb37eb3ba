// The Kafka topics of the design (docs: design.md "Topics"): names, keys and broker settings, used by
// every producer, consumer and the stack script that creates them.
export const TOPICS = {
  dns: "stoq.dns.v1",
  flows: "stoq.flows.v1",
  certs: "stoq.certs.v1",
  features: "stoq.features.v1",
  aggregates: "stoq.aggregates.v1",
  anomalies: "stoq.anomalies.v1",
  labels: "stoq.labels.v1",
  modelUpdates: "stoq.model-updates.v1",
  dlq: "stoq.dlq.v1",
} as const;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

export interface TopicSpec {
  readonly name: TopicName;
  readonly partitions: number;
  /** Broker-side topic configs (cleanup.policy, retention.ms, ...). */
  readonly config: Readonly<Record<string, string>>;
}

const DAY_MS = 24 * 3600 * 1000;

// Event topics are keyed by source or domain and read by several consumer-group members, so they get
// more partitions than the slow, low-volume topics. The model topic is compacted so the newest model per
// name is always there for a collector that starts late.
export const TOPIC_SPECS: readonly TopicSpec[] = [
  { name: TOPICS.dns, partitions: 6, config: { "retention.ms": String(7 * DAY_MS) } },
  { name: TOPICS.flows, partitions: 6, config: { "retention.ms": String(7 * DAY_MS) } },
  { name: TOPICS.certs, partitions: 3, config: { "retention.ms": String(30 * DAY_MS) } },
  { name: TOPICS.features, partitions: 6, config: { "retention.ms": String(3 * DAY_MS) } },
  { name: TOPICS.aggregates, partitions: 6, config: { "retention.ms": String(30 * DAY_MS) } },
  { name: TOPICS.anomalies, partitions: 3, config: { "retention.ms": String(90 * DAY_MS) } },
  { name: TOPICS.labels, partitions: 3, config: { "retention.ms": String(365 * DAY_MS) } },
  {
    name: TOPICS.modelUpdates,
    partitions: 1,
    config: { "cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": String(3600 * 1000) },
  },
  { name: TOPICS.dlq, partitions: 3, config: { "retention.ms": String(30 * DAY_MS) } },
];

/**
 * Kafka's default message.max.bytes, which the stack keeps and every topic inherits as max.message.bytes:
 * the largest record batch the broker accepts. A record too large for it is refused by its producer's
 * owner before sending (the producer sends an oversized record alone, and the broker rejects it).
 */
export const MESSAGE_MAX_BYTES = 1_048_588;

/** Bytes of a one-record batch beyond its key and value: the 61-byte batch header and, at most, the record's header and length varints. */
export const ONE_RECORD_OVERHEAD_BYTES = 61 + 27;
