// Finds the newest model on the compacted model topic that this collector would apply, by reading the
// topic up to the end it has at start-up: the version a collector configured to enforce must have in the
// kernel before it drops anything.
import type { KeyObject } from "node:crypto";
import { randomUUID } from "node:crypto";
import { createAdmin, createConsumer, type KafkaConnection } from "../../../lib/src/kafka.js";
import type { Logger } from "../../../lib/src/log.js";
import { acceptModelUpdate, ModelRejected } from "./model-validation.js";

export interface CatchUpOptions {
  readonly kafka: KafkaConnection;
  readonly topic: string;
  readonly modelName: string;
  readonly trustedKeys: readonly KeyObject[];
  readonly log: Logger;
  /**
   * Give up waiting for the last offsets after this long without a record once reading began: the tail
   * of a compacted topic can be a tombstone that compaction removed, so its offset never arrives.
   */
  readonly quietMs?: number;
}

/**
 * The highest version among the updates on the topic (as of now) that pass verification for this
 * collector; 0 when there is none. Rejected updates are skipped exactly as model sync skips them.
 */
export async function newestAcceptableVersion(o: CatchUpOptions): Promise<bigint> {
  const admin = createAdmin(o.kafka);
  let ends: bigint[];
  try {
    ends = await admin.endOffsets(o.topic);
  } finally {
    await admin.close();
  }
  const waiting = new Set(ends.flatMap((end, p) => (end > 0n ? [p] : [])));
  if (waiting.size === 0) return 0n;
  let best = 0n;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let quiet: NodeJS.Timeout | undefined;
  const quietMs = o.quietMs ?? 5000;
  const consumer = createConsumer(o.kafka, {
    groupId: `stoq-model-catch-up-${randomUUID()}`,
    topics: [o.topic],
    start: "earliest",
    logger: o.log,
    eachBatch: (batch) => {
      clearTimeout(quiet);
      for (const r of batch.records) {
        if (r.value !== null && r.offset < ends[r.partition]!) {
          try {
            best = acceptModelUpdate(r.value, o.trustedKeys, o.modelName, best).model.version;
          } catch (e) {
            if (!(e instanceof ModelRejected)) throw e;
          }
        }
        if (r.offset >= ends[r.partition]! - 1n) waiting.delete(r.partition);
      }
      if (waiting.size === 0) done();
      else quiet = setTimeout(done, quietMs);
      return Promise.resolve();
    },
  });
  await consumer.start();
  quiet = setTimeout(done, quietMs);
  try {
    await Promise.race([finished, consumer.stopped]);
  } finally {
    clearTimeout(quiet);
    await consumer.close();
  }
  if (waiting.size > 0) o.log.warn({ topic: o.topic, partitions: [...waiting] }, "model catch-up: the last offsets never arrived (compacted away?); using what was read");
  return best;
}
