// Follows STOQ topics from "now" with a throwaway consumer group, counting records and keeping the
// decoded ones a person (or a test) wants to read: anomalies, model updates, dead letters.
import { randomUUID } from "node:crypto";
import { decode } from "../lib/src/avro.js";
import { createConsumer, type KafkaConnection } from "../lib/src/kafka.js";
import { createLogger } from "../lib/src/log.js";

export interface WatchedRecord {
  readonly topic: string;
  readonly key: string | null;
  readonly value: unknown;
}

export interface TopicWatch {
  count(topic: string): number;
  /** Decoded records of the topics named in `keep`, in arrival order. */
  kept(topic: string): readonly WatchedRecord[];
  undecodable(topic: string): number;
  /** Resolves when `predicate` holds (checked on every batch), or rejects after `timeoutMs`. */
  until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function watchTopics(kafka: KafkaConnection, topics: readonly string[], keep: readonly string[]): Promise<TopicWatch> {
  const counts = new Map<string, number>();
  const bad = new Map<string, number>();
  const kept = new Map<string, WatchedRecord[]>();
  const waiters = new Set<() => void>();
  const consumer = createConsumer(kafka, {
    groupId: `stoq-watch-${randomUUID()}`,
    topics,
    start: "latest",
    logger: createLogger("watch", "warn"),
    eachBatch: async (batch) => {
      counts.set(batch.topic, (counts.get(batch.topic) ?? 0) + batch.records.length);
      if (keep.includes(batch.topic)) {
        let list = kept.get(batch.topic);
        if (!list) kept.set(batch.topic, (list = []));
        for (const r of batch.records) {
          if (r.value === null) continue;
          try {
            list.push({ topic: batch.topic, key: r.key?.toString() ?? null, value: decode(r.value).value });
          } catch {
            bad.set(batch.topic, (bad.get(batch.topic) ?? 0) + 1);
          }
        }
      }
      for (const w of waiters) w();
      return Promise.resolve();
    },
  });
  await consumer.start();
  return {
    count: (t) => counts.get(t) ?? 0,
    kept: (t) => kept.get(t) ?? [],
    undecodable: (t) => bad.get(t) ?? 0,
    until(what, predicate, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => consumer.close(),
  };
}
