// The offline job behind `npm run train`: the in-kernel per-query model (models/dns-query.json) trained
// on the shared data's benign, DGA and tunnel names, validated, signed, and written to models/ only when
// it passes the quality bar.
import { DEV_PUBLIC_KEY, DNS_QUERY_MODEL, floatModelFile, writeModelArtifact } from "../../../lib/src/model/artifact.js";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { FEATURE_SPEC, NAME_FEATURE_COUNT } from "../../../lib/src/model/features.js";
import { assertPublishable, modelUpdateOf } from "../../../lib/src/model/model-update.js";
import { publicKeyPem, signModelUpdate, type SigningKey } from "../../../lib/src/model/signing.js";
import { writeFileSync } from "node:fs";
import { DEFAULT_DATASET_OPTIONS, defaultDataPaths, loadTrainingNames, type DatasetOptions } from "./datasets.js";
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from "./mlp-train.js";
import { DEFAULT_BENIGN_PRIOR, DEFAULT_TUNNEL_SHARE, nameRows } from "./name-features.js";
import { DEFAULT_RUN_OPTIONS, runTraining, type TrainingResult } from "./training-run.js";
import { DEFAULT_QUALITY_BAR, type QualityBar } from "./validate.js";

export interface NameModelOptions {
  /** ModelUpdate model_name: the name collectors follow (config model.name). */
  modelName: string;
  dataDir: string;
  out: string;
  publicKeyOut: string | null;
  dataset: DatasetOptions;
  train: TrainOptions;
  threatThreshold: number;
  /** Share of the loss weight on benign names (nameRows). */
  benignPrior: number;
  /** Share of the threat weight on tunnels, the rest on DGA names (nameRows). */
  tunnelShare: number;
  quality: QualityBar;
  /** Defaults to the creation time in ms: strictly increasing across runs of one trainer. */
  version?: bigint;
  log: (msg: string) => void;
}

export function defaultNameModelOptions(dataDir: string): NameModelOptions {
  return {
    modelName: "stoq-threat",
    dataDir,
    out: DNS_QUERY_MODEL,
    publicKeyOut: DEV_PUBLIC_KEY,
    dataset: DEFAULT_DATASET_OPTIONS,
    train: { ...DEFAULT_TRAIN_OPTIONS, nIn: NAME_FEATURE_COUNT },
    threatThreshold: DEFAULT_RUN_OPTIONS.threatThreshold,
    benignPrior: DEFAULT_BENIGN_PRIOR,
    tunnelShare: DEFAULT_TUNNEL_SHARE,
    quality: DEFAULT_QUALITY_BAR,
    log: () => {},
  };
}

export interface NameModelOutcome {
  result: TrainingResult;
  /** The signed ModelUpdate message; null when the model failed the quality bar and nothing was written. */
  message: Buffer | null;
}

export async function trainNameModel(opts: NameModelOptions, key: SigningKey): Promise<NameModelOutcome> {
  const started = Date.now();
  const bigram = loadBigramTable();
  const names = loadTrainingNames(defaultDataPaths(opts.dataDir), opts.dataset);
  const train = nameRows(names.train, bigram, opts.train.ngramBits, opts.benignPrior, opts.train.ngramTld, opts.tunnelShare);
  const validation = nameRows(names.validation, bigram, opts.train.ngramBits, opts.benignPrior, opts.train.ngramTld, opts.tunnelShare);
  opts.log(`${train.length} training rows, ${validation.length} validation rows`);
  const version = opts.version ?? BigInt(started);
  const result = await runTraining(train, validation, {
    ...DEFAULT_RUN_OPTIONS,
    train: opts.train,
    threatThreshold: opts.threatThreshold,
    version,
    featureSpec: FEATURE_SPEC,
    quality: opts.quality,
    log: opts.log,
  });
  opts.log(`trained in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(result.validation)}`);
  if (result.failures.length > 0) return { result, message: null };

  const metrics: Record<string, number> = { ...result.validation, training_rows: train.length };
  const message = signModelUpdate(
    modelUpdateOf(result.quant, {
      modelName: opts.modelName,
      createdAtMs: started,
      threatThreshold: result.threatThreshold,
      outputScale: result.outputScale,
      metrics,
    }),
    key,
  );
  // The shipped model is published as it is (the demo, a collector starting from it): one that could not
  // be is not written.
  assertPublishable(message, opts.modelName);
  writeModelArtifact(opts.out, {
    model_name: opts.modelName,
    update_base64: message.toString("base64"),
    float: floatModelFile(result.float),
    metrics,
    training: {
      data: "../shared/data: domains/benign.csv, domains/dga.csv, dns-tunnel/netrack/{train,validate}.csv (held-out registered domains excluded)",
      dataset: opts.dataset,
      train: opts.train,
      quality_bar: opts.quality,
    },
  });
  if (opts.publicKeyOut !== null) writeFileSync(opts.publicKeyOut, publicKeyPem(key.publicKey));
  return { result, message };
}
