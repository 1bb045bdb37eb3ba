// Detection quality against labels from stoq.labels.v1: false-positive and false-negative rates over the
// entities that both a detector and a label (threat intel or an analyst) have spoken about.
//
// false_positive_rate = FP / (TP + FP): of the flagged entities that carry a label, the share labelled
// benign. Labels come from feedback and intel lists, not from a random sample of traffic, so the classical
// FP / (FP + TN) has no honest denominator here; this is the rate an analyst lives with.
// false_negative_rate = FN / (TP + FN): of the entities labelled malicious or suspicious, the share no
// detector flagged. Labels a detection made (source "detection") are ignored: they would grade us on our
// own answers.
import type { Anomaly, EntityType, Label } from "../../../lib/src/avro.js";

export interface QualityCounts {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  /** Entities with an independent label. */
  readonly labelled: number;
  readonly falsePositiveRate: number;
  readonly falseNegativeRate: number;
}

interface Entry {
  flagged: boolean;
  label: Label["label"] | null;
}

export class LabelQuality {
  private readonly entries = new Map<string, Entry>();
  private tp = 0;
  private fp = 0;
  private fn = 0;
  private labelled = 0;

  constructor(private readonly maxEntities = 1_000_000) {}

  /** Counts an anomaly's entity as flagged; returns whether the counts changed. */
  flagged(a: Pick<Anomaly, "entity_type" | "entity">): boolean {
    const e = this.entry(a.entity_type, a.entity);
    if (e.flagged) return false;
    this.remove(e);
    e.flagged = true;
    this.add(e);
    return true;
  }

  /** Records a label (the latest label of an entity wins); returns whether the counts changed. */
  label(l: Label): boolean {
    if (l.source === "detection") return false;
    const e = this.entry(l.entity_type, l.entity);
    if (e.label === l.label) return false;
    this.remove(e);
    e.label = l.label;
    this.add(e);
    return true;
  }

  /** The label an entity carries (threat intel or analyst), if any. */
  labelOf(type: EntityType, entity: string): Label["label"] | null {
    return this.entries.get(`${type}:${entity}`)?.label ?? null;
  }

  counts(): QualityCounts {
    return {
      truePositives: this.tp,
      falsePositives: this.fp,
      falseNegatives: this.fn,
      labelled: this.labelled,
      falsePositiveRate: this.tp + this.fp > 0 ? this.fp / (this.tp + this.fp) : 0,
      falseNegativeRate: this.tp + this.fn > 0 ? this.fn / (this.tp + this.fn) : 0,
    };
  }

  private entry(type: EntityType, entity: string): Entry {
    const key = `${type}:${entity}`;
    let e = this.entries.get(key);
    if (e === undefined) {
      e = { flagged: false, label: null };
      if (this.entries.size >= this.maxEntities) {
        const [oldKey, old] = this.entries.entries().next().value!;
        this.remove(old);
        this.entries.delete(oldKey);
      }
    } else this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  private tally(e: Entry, d: number): void {
    if (e.label === null) return;
    this.labelled += d;
    const positive = e.label !== "benign";
    if (e.flagged && positive) this.tp += d;
    else if (e.flagged) this.fp += d;
    else if (positive) this.fn += d;
  }

  private remove(e: Entry): void {
    this.tally(e, -1);
  }

  private add(e: Entry): void {
    this.tally(e, 1);
  }
}
