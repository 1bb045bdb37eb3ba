// Trainer start-up: follows feature vectors, labels and published models, and runs a training round
// every continuous_learning.training_interval, publishing signed models on the compacted model topic.
import { Counter, Gauge, Histogram } from "prom-client";
import { decodeAs, type FeatureVector, type Label, type ModelUpdate, type RecordName } from "../../../lib/src/avro.js";
import { withDeadLetter } from "../../../lib/src/dead-letter.js";
import { createConsumer, createProducer } from "../../../lib/src/kafka.js";
import type { RunningService, ServiceContext } from "../../../lib/src/service-runtime.js";
import { TOPICS } from "../../../lib/src/topics.js";
import { existsSync } from "node:fs";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { DEFAULT_TRAIN_OPTIONS, type FeatureRow } from "./mlp-train.js";
import { ContinuousTrainer } from "./continuous-trainer.js";
import { DEFAULT_DATASET_OPTIONS, defaultDataPaths, loadTrainingNames } from "./datasets.js";
import { DEFAULT_BENIGN_PRIOR, nameRows } from "./name-features.js";
import { ensureDevSigningKey } from "./dev-signing-key.js";
import { DEFAULT_QUALITY_BAR } from "./validate.js";

const rounds = new Counter({ name: "stoq_trainer_rounds_total", help: "Training rounds by outcome (published, rejected, skipped).", labelNames: ["outcome"] });
const rowsHeld = new Gauge({ name: "stoq_trainer_rows", help: "Feature vectors held for the next training round." });
const lastAuc = new Gauge({ name: "stoq_trainer_validation_auc", help: "Validation AUC of the last trained model, by model (float or int8).", labelNames: ["model"] });
const roundSeconds = new Histogram({ name: "stoq_trainer_round_seconds", help: "Wall time of one training round.", buckets: [1, 2, 5, 10, 30, 60, 120, 300] });

// A round needs this many labelled threats at least; fewer and the validation figures mean nothing.
const MIN_POSITIVES = 20;
const MAX_ROWS = 200_000;
// A continuous round must stay short on a shared node: a few hundred names per DGA family, a few
// thousand benign domains and one parent per tunnel name keep every kind in view at a fraction of the
// offline training set.
const BASE_PER_FAMILY = 500;
const BASE_MAX_BENIGN = 5000;

/** The curated rows of a round, with the table rows of the model the trainer trains (bits, TLD row). */
function baseRows(dir: string | null, table: { ngramBits: number; ngramTld: boolean }): { train: FeatureRow[]; validation: FeatureRow[] } | undefined {
  if (dir === null || !existsSync(dir)) return undefined;
  const names = loadTrainingNames(defaultDataPaths(dir), { ...DEFAULT_DATASET_OPTIONS, perFamily: BASE_PER_FAMILY, maxBenign: BASE_MAX_BENIGN, tunnelParents: 1 });
  const bigram = loadBigramTable();
  const rows = (part: typeof names.train): FeatureRow[] => nameRows(part, bigram, table.ngramBits, DEFAULT_BENIGN_PRIOR, table.ngramTld);
  return { train: rows(names.train), validation: rows(names.validation) };
}

export async function startTrainer(ctx: ServiceContext): Promise<RunningService> {
  const { config, log } = ctx;
  const learning = config.machine_learning.continuous_learning;
  const table = { ngramBits: DEFAULT_TRAIN_OPTIONS.ngramBits, ngramTld: config.model.ngram_tld_row };
  const trainer = new ContinuousTrainer({
    modelName: config.model.name,
    nHidden: config.model.hidden_units,
    ...table,
    minSamples: learning.min_training_samples,
    maxRows: MAX_ROWS,
    validationSplit: learning.model_validation_split,
    threatThreshold: config.machine_learning.threat_detection.threat_threshold,
    // The threshold is raised until the FP tolerance holds on validation; at that rate the model must
    // still catch half of the labelled threats, or it is not worth a kernel slot.
    quality: { ...DEFAULT_QUALITY_BAR, maxFalsePositiveRate: config.machine_learning.threat_detection.false_positive_tolerance, minRecall: 0.5 },
    key: ensureDevSigningKey(config),
    minPositives: MIN_POSITIVES,
    base: baseRows(config.model.base_data_dir, table),
  });
  const producer = createProducer(ctx.kafka, { logger: log });
  function follow<T>(groupId: string, topic: string, name: RecordName, handle: (value: T) => void) {
    return createConsumer(ctx.kafka, {
      groupId,
      topics: [topic],
      start: "earliest",
      logger: log,
      eachBatch: withDeadLetter<T>({
        decode: (value) => decodeAs<T>(name, value),
        handle: (records) => {
          for (const r of records) handle(r.value);
          rowsHeld.set(trainer.size);
          return Promise.resolve();
        },
        producer,
        service: "trainer",
        logger: log,
      }),
    });
  }
  const features = follow<FeatureVector>("stoq-trainer", TOPICS.features, "FeatureVector", (v) => trainer.addFeatures(v));
  // Labels and published models are read whole at every start: they are the trainer's memory.
  const labels = follow<Label>(`stoq-trainer-labels-${ctx.instance}`, TOPICS.labels, "Label", (v) => trainer.addLabel(v));
  const models = follow<ModelUpdate>(`stoq-trainer-models-${ctx.instance}`, TOPICS.modelUpdates, "ModelUpdate", (u) => {
    if (u.model_name === config.model.name) trainer.observePublishedVersion(BigInt(u.version));
  });
  await Promise.all([features.start(), labels.start(), models.start()]);

  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    running = running.then(async () => {
      const end = roundSeconds.startTimer();
      const outcome = await trainer.round(Date.now());
      end();
      rounds.inc({ outcome: outcome.kind });
      if (outcome.kind === "skipped") {
        log.info({ reason: outcome.reason }, "training round skipped");
        return;
      }
      lastAuc.set({ model: "float" }, outcome.result.validation.float_auc);
      lastAuc.set({ model: "int8" }, outcome.result.validation.int8_auc);
      if (outcome.kind === "rejected") {
        log.warn({ failures: outcome.result.failures, validation: outcome.result.validation }, "trained model below the quality bar: not published");
        return;
      }
      await producer.send(TOPICS.modelUpdates, [{ key: config.model.name, value: outcome.message }]);
      log.info({ version: String(outcome.version), validation: outcome.result.validation }, "model published");
    }).catch((e: unknown) => log.error({ err: e }, "training round failed"));
  };
  const timer = setInterval(tick, learning.training_interval);
  return {
    ready: () => true,
    async close() {
      clearInterval(timer);
      await running;
      await Promise.all([features.close(), labels.close(), models.close()]);
      await producer.close();
    },
  };
}
