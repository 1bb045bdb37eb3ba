// Follows the compacted model topic and applies each verified, newer model to a sink (the kernel's
// inactive slot then a flip, or the user-space scorer); counts every rejection by reason.
import type { KeyObject } from "node:crypto";
import { Counter, Gauge, Histogram } from "prom-client";
import type { ModelUpdate } from "../../../lib/src/avro.js";
import { createConsumer, type KafkaConnection, type KafkaConsumer } from "../../../lib/src/kafka.js";
import type { Logger } from "../../../lib/src/log.js";
import type { QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { TOPICS } from "../../../lib/src/topics.js";
import { acceptModelUpdate, ModelRejected } from "./model-validation.js";

export interface ModelSink {
  /** Makes `model` the one packets are scored with; must never leave a half-written model active. */
  apply(model: QuantModel, update: ModelUpdate): Promise<void> | void;
}

export interface ModelSyncOptions {
  readonly kafka: KafkaConnection;
  readonly modelName: string;
  readonly trustedKeys: readonly KeyObject[];
  readonly sink: ModelSink;
  /** Unique per process: every collector reads the whole (compacted) topic from the start. */
  readonly instance: string;
  readonly log: Logger;
  readonly topic?: string;
  /** The version already in the kernel (a restart with pinned maps); updates must be newer. */
  readonly initialVersion?: bigint;
  readonly onApplied?: (update: ModelUpdate, delayMs: number) => void;
}

const updates = new Counter({
  name: "stoq_model_updates_total",
  help: "Model updates seen on the model topic, by result (applied, or the reason for rejection).",
  labelNames: ["result"],
});
const appliedVersion = new Gauge({
  name: "stoq_model_applied_version",
  help: "Version of the model the collector applied last (0: none yet).",
});
const applyDelay = new Histogram({
  name: "stoq_model_apply_delay_seconds",
  help: "Time from a model's publication (created_at_ms, trainer clock) to its application here, for models published while this collector ran.",
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
});
const lastApplyDelay = new Gauge({
  name: "stoq_model_last_apply_delay_seconds",
  help: "Publication-to-application time of the last model applied while this collector ran.",
});

export interface ModelSync {
  readonly version: bigint;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createModelSync(o: ModelSyncOptions): ModelSync {
  let version = o.initialVersion ?? 0n;
  // Models published before this process started are a catch-up, not propagation: their age says
  // nothing about how fast an update reaches the fleet.
  const startedAtMs = Date.now();
  appliedVersion.set(Number(version));
  const consumer: KafkaConsumer = createConsumer(o.kafka, {
    groupId: `stoq-model-sync-${o.instance}`,
    topics: [o.topic ?? TOPICS.modelUpdates],
    start: "earliest",
    logger: o.log,
    eachBatch: async (batch) => {
      for (const record of batch.records) {
        if (record.value === null) continue; // a tombstone removes a model name; the kernel keeps its model
        try {
          const { update, model } = acceptModelUpdate(record.value, o.trustedKeys, o.modelName, version);
          await o.sink.apply(model, update);
          version = model.version;
          const delayMs = Math.max(0, Date.now() - update.created_at_ms);
          updates.inc({ result: "applied" });
          appliedVersion.set(Number(version));
          if (update.created_at_ms >= startedAtMs) {
            applyDelay.observe(delayMs / 1000);
            lastApplyDelay.set(delayMs / 1000);
          }
          o.log.info({ model: update.model_name, version: update.version, delayMs, metrics: update.training_metrics }, "model applied");
          o.onApplied?.(update, delayMs);
        } catch (e) {
          if (!(e instanceof ModelRejected)) throw e;
          updates.inc({ result: e.reason });
          const log = e.reason === "stale_version" ? o.log.debug.bind(o.log) : o.log.warn.bind(o.log);
          log({ reason: e.reason, offset: String(record.offset) }, `model update rejected, keeping v${version}: ${e.message}`);
        }
      }
    },
  });
  return {
    get version() {
      return version;
    },
    start: () => consumer.start(),
    close: () => consumer.close(),
  };
}
