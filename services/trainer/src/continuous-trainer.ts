// Continuous learning: keeps a bounded window of the feature vectors the collectors scored, labels them
// from stoq.labels.v1 (threat intel, analysts, confident detections), and on each training interval
// trains, validates, quantizes and signs a new model when the data and the quality bar allow it.
import type { FeatureVector, Label } from "../../../lib/src/avro.js";
import { registeredDomain } from "../../../lib/src/registered-domain.js";
import { splitOf } from "../../../lib/src/model/dataset-split.js";
import { FEATURE_SPEC, NAME_FEATURE_COUNT } from "../../../lib/src/model/features.js";
import { ngramRowsFor } from "../../../lib/src/model/int8-mlp.js";
import { wireOfLabelledName } from "../../../lib/src/model/labelled-csv.js";
import { assertPublishable, modelUpdateOf } from "../../../lib/src/model/model-update.js";
import { signModelUpdate, type SigningKey } from "../../../lib/src/model/signing.js";
import type { FeatureRow } from "./mlp-train.js";
import { DEFAULT_RUN_OPTIONS, runTraining, type TrainingResult } from "./training-run.js";
import { thresholdWithinFpr } from "./threshold.js";
import { evaluateModel, qualityFailures, type QualityBar } from "./validate.js";

// The largest 1 % of the first-layer weights saturate (see RunOptions.w1ScaleQuantile).
const CONTINUOUS_W1_SCALE_QUANTILE = 0.99;

export interface ContinuousOptions {
  readonly modelName: string;
  readonly nHidden: number;
  /** log2 of the n-gram table's rows (0: none); the base rows must carry rows for the same table. */
  readonly ngramBits: number;
  /** The table also holds the TLD row (ngram_flags bit 0, model.ngram_tld_row); the base rows must include it. */
  readonly ngramTld: boolean;
  readonly minSamples: number;
  /** Rows held; the oldest are forgotten first. */
  readonly maxRows: number;
  readonly validationSplit: number;
  readonly threatThreshold: number;
  readonly quality: QualityBar;
  readonly key: SigningKey;
  /** Fewest labelled threats a round needs: a model cannot learn a class it has not seen. */
  readonly minPositives: number;
  readonly epochs?: number;
  /** Curated labelled rows mixed into every round (see model.base_data_dir); the stream adds to them. */
  readonly base?: { readonly train: readonly FeatureRow[]; readonly validation: readonly FeatureRow[] };
}

interface Row {
  readonly features: Int32Array;
  readonly rows: Uint16Array | null;
  readonly name: string;
  readonly domain: string;
}

export type RoundOutcome =
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "rejected"; readonly result: TrainingResult }
  | { readonly kind: "published"; readonly result: TrainingResult; readonly message: Buffer; readonly version: bigint };

export class ContinuousTrainer {
  private rows: Row[] = [];
  private head = 0;
  private readonly labels = new Map<string, 0 | 1>();
  private lastVersion = 0n;
  // Rows and labels seen in total, and at the last round: a round on unchanged data would only repeat it.
  private seen = 0;
  private seenAtRound = -1;

  constructor(private readonly o: ContinuousOptions) {}

  get size(): number {
    return this.rows.length;
  }

  get labelCount(): number {
    return this.labels.size;
  }

  /** Learn the version already published (from the compacted topic) so new ones are newer. */
  observePublishedVersion(v: bigint): void {
    if (v > this.lastVersion) this.lastVersion = v;
  }

  addFeatures(fv: FeatureVector): void {
    if (fv.feature_spec !== FEATURE_SPEC || fv.context === null || fv.values.length < NAME_FEATURE_COUNT) return;
    const name = fv.context.toLowerCase();
    this.seen++;
    const wire = this.o.ngramBits === 0 ? null : wireOfLabelledName(name);
    const rows = wire === null ? null : ngramRowsFor(this.o, wire);
    const row: Row = { features: Int32Array.from(fv.values), rows, name, domain: registeredDomain(name) };
    if (this.rows.length < this.o.maxRows) this.rows.push(row);
    else {
      this.rows[this.head] = row;
      this.head = (this.head + 1) % this.o.maxRows;
    }
  }

  addLabel(l: Label): void {
    if (l.entity_type !== "registered_domain" && l.entity_type !== "qname") return;
    this.seen++;
    const entity = l.entity.toLowerCase();
    if (l.label === "malicious") this.labels.set(entity, 1);
    else if (l.label === "benign") this.labels.set(entity, 0);
    else this.labels.delete(entity);
  }

  /** 1 when the name or its registered domain is labelled malicious; unlabelled traffic counts as benign. */
  private labelOf(r: Row): 0 | 1 {
    return this.labels.get(r.name) ?? this.labels.get(r.domain) ?? 0;
  }

  async round(nowMs: number): Promise<RoundOutcome> {
    if (this.rows.length < this.o.minSamples) return { kind: "skipped", reason: `${this.rows.length} of ${this.o.minSamples} samples` };
    if (this.seen === this.seenAtRound) return { kind: "skipped", reason: "no new samples or labels since the last round" };
    this.seenAtRound = this.seen;
    const train: FeatureRow[] = [...(this.o.base?.train ?? [])];
    const validation: FeatureRow[] = [...(this.o.base?.validation ?? [])];
    let positives = 0;
    for (const r of this.rows) {
      const label = this.labelOf(r);
      positives += label;
      // Split by registered domain so one domain's names never sit on both sides.
      (splitOf(r.domain, this.o.validationSplit) === "validation" ? validation : train).push({ features: r.features, rows: r.rows, label });
    }
    if (positives < this.o.minPositives && this.o.base === undefined) {
      return { kind: "skipped", reason: `${positives} labelled threats in the stream and no base data, need ${this.o.minPositives}` };
    }
    const version = BigInt(Math.max(nowMs, Number(this.lastVersion) + 1));
    let result = await runTraining(train, validation, {
      ...DEFAULT_RUN_OPTIONS,
      train: { ...DEFAULT_RUN_OPTIONS.train, nHidden: this.o.nHidden, ngramBits: this.o.ngramBits, ngramTld: this.o.ngramTld, epochs: this.o.epochs ?? DEFAULT_RUN_OPTIONS.train.epochs },
      threatThreshold: this.o.threatThreshold,
      version,
      featureSpec: FEATURE_SPEC,
      quality: this.o.quality,
      w1ScaleQuantile: CONTINUOUS_W1_SCALE_QUANTILE,
    });
    const threshold = thresholdWithinFpr(result.quant, validation, this.o.quality.maxFalsePositiveRate);
    if (threshold !== result.quant.threshold) {
      const quant = { ...result.quant, threshold };
      const metrics = evaluateModel(result.float, result.calibration, quant, result.outputScale, validation);
      result = { ...result, quant, validation: metrics, failures: qualityFailures(metrics, this.o.quality) };
    }
    if (result.failures.length > 0) return { kind: "rejected", result };
    const message = signModelUpdate(
      modelUpdateOf(result.quant, {
        modelName: this.o.modelName,
        createdAtMs: Date.now(),
        threatThreshold: result.threatThreshold,
        outputScale: result.outputScale,
        metrics: { ...result.validation, training_rows: train.length },
      }),
      this.o.key,
    );
    assertPublishable(message, this.o.modelName);
    this.lastVersion = version;
    return { kind: "published", result, message, version };
  }
}
