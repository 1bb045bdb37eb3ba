// Command line of the trainer's offline jobs: `npm run train` trains, quantizes, validates and signs the
// shipped per-query model; `npm run feature-spec` rebuilds the feature_spec v1 bigram table.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadConfig } from "../../../lib/src/config.js";
import { isStoqError } from "../../../lib/src/errors.js";
import { ensureDevSigningKey } from "./dev-signing-key.js";
import { buildBigramArtifact } from "./feature-spec-build.js";
import { NGRAM_MAX_BITS, NGRAM_MIN_BITS } from "../../../lib/src/model/ngrams.js";
import { DEFAULT_DATASET_OPTIONS } from "./datasets.js";
import { DEFAULT_TRAIN_OPTIONS } from "./mlp-train.js";
import { defaultNameModelOptions, trainNameModel } from "./name-model.js";
import { DEFAULT_BENIGN_PRIOR, DEFAULT_TUNNEL_SHARE } from "./name-features.js";

const DATA_DIR = fileURLToPath(new URL("../../../../shared/data", import.meta.url));

const TRAIN_HELP = `npm run train -- [options]
Trains the in-kernel per-query model (dns-query) on ../shared/data, validates it, signs it and writes
models/dns-query.json (plus the public key models/dev-signing-key.pub.pem). Nothing is written when the
model fails the quality bar (exit code 1).
  --data DIR              shared data directory (default ${DATA_DIR})
  --out FILE              model file (default models/dns-query.json)
  --epochs N              training epochs (default ${DEFAULT_TRAIN_OPTIONS.epochs})
  --hidden N              hidden units, <= 64 (default model.hidden_units)
  --bits N                log2 of the n-gram table's rows, 6..14, or 0 for no table (default ${DEFAULT_TRAIN_OPTIONS.ngramBits})
  --tld                   the n-gram table also holds a row per TLD (default ${DEFAULT_TRAIN_OPTIONS.ngramTld})
  --benign-prior P        share of the loss weight on benign names, 0..1 exclusive (default ${DEFAULT_BENIGN_PRIOR})
  --tunnel-share S        share of the threat loss weight on tunnels, the rest on DGA (default ${DEFAULT_TUNNEL_SHARE})
  --per-family N          training names per DGA family (default ${DEFAULT_DATASET_OPTIONS.perFamily})
  --max-benign N          cap benign registered domains per split part, 0 = all (default 0)
  --seed N                seed of sampling, augmentation and initialisation (default 1)
Config (STOQ_CONFIG_PATH or config/stoq.yaml): machine_learning.threat_detection.threat_threshold and
false_positive_tolerance, machine_learning.continuous_learning.model_validation_split, model.name,
model.hidden_units, and the signing key model.private_key_file (created there on first use).`;

async function train(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: "string", default: DATA_DIR },
      out: { type: "string" },
      epochs: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.epochs) },
      hidden: { type: "string" },
      bits: { type: "string", default: String(DEFAULT_TRAIN_OPTIONS.ngramBits) },
      "per-family": { type: "string", default: String(DEFAULT_DATASET_OPTIONS.perFamily) },
      tld: { type: "boolean", default: DEFAULT_TRAIN_OPTIONS.ngramTld },
      "benign-prior": { type: "string", default: String(DEFAULT_BENIGN_PRIOR) },
      "tunnel-share": { type: "string", default: String(DEFAULT_TUNNEL_SHARE) },
      "max-benign": { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const full = loadConfig();
  const config = full.machine_learning;
  const opts = defaultNameModelOptions(values.data);
  const int = (name: string, v: string, lo: number, hi: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${name} ${v}: expected an integer in ${lo}..${hi}`);
    return n;
  };
  const seed = int("seed", values.seed, 0, 2 ** 31);
  const ngramBits = (v: string): number => {
    const n = int("bits", v, 0, NGRAM_MAX_BITS);
    if (n !== 0 && n < NGRAM_MIN_BITS) throw new Error(`--bits ${v}: expected 0 or ${NGRAM_MIN_BITS}..${NGRAM_MAX_BITS}`);
    return n;
  };
  const prior = (v: string): number => {
    const p = Number(v);
    if (!(p > 0 && p < 1)) throw new Error(`--benign-prior/--tunnel-share ${v}: expected a number in (0, 1)`);
    return p;
  };
  const run = {
    ...opts,
    out: values.out ?? opts.out,
    publicKeyOut: values.out === undefined ? opts.publicKeyOut : null,
    dataset: {
      ...opts.dataset,
      validationSplit: config.continuous_learning.model_validation_split,
      perFamily: int("per-family", values["per-family"], 1, 100_000),
      maxBenign: int("max-benign", values["max-benign"], 0, 10_000_000),
      seed,
    },
    modelName: full.model.name,
    train: {
      ...opts.train,
      epochs: int("epochs", values.epochs, 1, 1000),
      nHidden: values.hidden === undefined ? full.model.hidden_units : int("hidden", values.hidden, 1, 64),
      ngramBits: ngramBits(values.bits),
      ngramTld: values.tld,
      seed,
    },
    benignPrior: prior(values["benign-prior"]),
    tunnelShare: prior(values["tunnel-share"]),
    threatThreshold: config.threat_detection.threat_threshold,
    quality: { ...opts.quality, maxFalsePositiveRate: config.threat_detection.false_positive_tolerance },
    log: (m: string) => console.error(m),
  };
  const key = ensureDevSigningKey(full);
  const { result, message } = await trainNameModel(run, key);
  if (message === null) {
    console.error(`model refused by the quality bar: ${result.failures.join("; ")}`);
    return 1;
  }
  console.log(JSON.stringify({ model: run.modelName, version: String(result.quant.version), out: run.out, key_id: key.keyId, ...result.validation }));
  return 0;
}

function featureSpec(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: { benign: { type: "string", default: `${DATA_DIR}/domains/benign.csv` }, help: { type: "boolean", default: false } },
  });
  if (values.help) {
    console.log("npm run feature-spec -- [--benign FILE]: retrain the feature_spec v1 bigram table (models/feature-spec-v1.json)");
    return 0;
  }
  buildBigramArtifact(values.benign);
  console.log("wrote models/feature-spec-v1.json");
  return 0;
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "train") return train(rest);
  if (command === "feature-spec") return featureSpec(rest);
  console.error(`unknown command "${command ?? ""}": use train or feature-spec`);
  return 2;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(isStoqError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  },
);
