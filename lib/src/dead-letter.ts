// The dead-letter path every consumer uses: decode each record, and send what does not decode to
// stoq.dlq.v1 (whole, with the error) instead of stopping or dropping it silently.
import { Counter } from "prom-client";
import { encode, type DlqEntry } from "./avro.js";
import { isStoqError } from "./errors.js";
import { errorKind, type ConsumedBatch, type ConsumedRecord, type KafkaProducer } from "./kafka.js";
import { createLogger, type Logger } from "./log.js";
import { TOPICS } from "./topics.js";

export const dlqRecords = new Counter({
  name: "stoq_dlq_records_total",
  help: "Records sent to the dead-letter topic because they could not be decoded, by origin topic.",
  labelNames: ["topic"],
});

export interface Decoded<T> {
  readonly record: ConsumedRecord;
  readonly value: T;
}

export interface DeadLetterOptions<T> {
  /** Throws on a record that is not what the topic should carry (usually `decodeAs` of avro.ts). */
  readonly decode: (value: Buffer, record: ConsumedRecord) => T;
  /** Called with the records that decoded, in offset order; may be empty. */
  readonly handle: (records: Decoded<T>[], batch: ConsumedBatch) => Promise<void>;
  /** Producer the dead letters go through; the service's own producer is fine. */
  readonly producer: KafkaProducer;
  /** Service name written into each entry. */
  readonly service: string;
  /** Default stoq.dlq.v1; tests give their own. */
  readonly dlqTopic?: string;
  readonly logger?: Logger;
}

// Enough to tell one error from another; a decoder's message can quote a whole record.
const MAX_ERROR_MESSAGE = 2000;

/**
 * Wraps a batch handler: records that decode go to `handle`, the others become DlqEntry records keyed
 * by their origin topic. The dead letters are acknowledged before `handle` runs, so a consumer that
 * commits after the batch never commits past a record that is neither handled nor in the DLQ.
 */
export function withDeadLetter<T>(options: DeadLetterOptions<T>): (batch: ConsumedBatch) => Promise<void> {
  const log = options.logger ?? createLogger("dead-letter");
  const dlqTopic = options.dlqTopic ?? TOPICS.dlq;
  const kindsLogged = new Set<string>();

  return async (batch) => {
    const good: Decoded<T>[] = [];
    const dead: DlqEntry[] = [];
    for (const record of batch.records) {
      const value = record.value ?? Buffer.alloc(0);
      try {
        good.push({ record, value: options.decode(value, record) });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const code = isStoqError(error) ? error.code : "RECORD_UNDECODABLE";
        dead.push({
          origin_topic: record.topic,
          partition: record.partition,
          offset: Number(record.offset),
          record_timestamp_ms: Number.isFinite(record.timestampMs) ? record.timestampMs : null,
          key: record.key,
          value,
          error_code: code,
          error_message: message.slice(0, MAX_ERROR_MESSAGE),
          consumer_group: batch.groupId,
          service: options.service,
          failed_at_ms: Date.now(),
        });
        const kind = `${record.topic}|${code}|${errorKind(error)}`;
        if (!kindsLogged.has(kind)) {
          kindsLogged.add(kind);
          log.warn(
            { topic: record.topic, partition: record.partition, offset: String(record.offset), code, err: message.slice(0, 300), dlq: dlqTopic },
            "record does not decode; sent to the DLQ (logged once per topic and error kind, counted in stoq_dlq_records_total)",
          );
        }
      }
    }
    if (dead.length > 0) {
      // Before the handler, so a handler that fails for good cannot leave a dead letter unsent.
      const result = await options.producer.send(dlqTopic, dead.map((e) => ({ key: e.origin_topic, value: encode("DlqEntry", e) })));
      dlqRecords.inc({ topic: batch.topic }, dead.length);
      if (result.shed > 0) log.error({ topic: batch.topic, shed: result.shed }, "DLQ entries shed: the producer backlog was full");
    }
    await options.handle(good, batch);
  };
}
