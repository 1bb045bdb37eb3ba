// Turns labelled query names into the trainer's feature rows (feature_spec v1 name features and the n-gram
// table rows), with loss weights that fix the class prior the model's probabilities are calibrated to.
import { nameFeatures } from "../../../lib/src/model/features.js";
import { wireOfLabelledName } from "../../../lib/src/model/labelled-csv.js";
import { ngramRowsFor } from "../../../lib/src/model/int8-mlp.js";
import type { Kind, LabelledName } from "./datasets.js";
import type { FeatureRow } from "./mlp-train.js";

export interface NameRow extends FeatureRow {
  name: string;
  kind: Kind;
  family: string;
}

export const DEFAULT_BENIGN_PRIOR = 0.8;
export const DEFAULT_TUNNEL_SHARE = 0.5;

/**
 * benignPrior: the share of the total loss weight carried by benign names; tunnels take tunnelShare of
 * the rest and DGA names the remainder (DGA names by count: weighting every family equally raised the small observed
 * families' recall but lowered validation AUC, 0.985 against 0.989). Threats are rare on a real network,
 * so a benign-heavy prior keeps the false positive rate at the deployed threat_threshold low. tld: the
 * rows include the TLD row (a model with ngramTld).
 */
export function nameRows(names: readonly LabelledName[], bigram: Int16Array, ngramBits: number, benignPrior = DEFAULT_BENIGN_PRIOR, tld = false, tunnelShare = DEFAULT_TUNNEL_SHARE): NameRow[] {
  const out: NameRow[] = [];
  let benign = 0;
  let tunnels = 0;
  let dga = 0;
  for (const n of names) {
    const wire = wireOfLabelledName(n.name);
    const f = wire === null ? null : nameFeatures(wire, bigram);
    if (wire === null || f === null) continue;
    out.push({ features: f, rows: ngramRowsFor({ ngramBits, ngramTld: tld }, wire), label: n.label, name: n.name, kind: n.kind, family: n.family });
    if (n.kind === "benign") benign++;
    else if (n.kind === "tunnel") tunnels++;
    else dga++;
  }
  const threat = (Math.max(benign, 1) * (1 - benignPrior)) / benignPrior;
  for (const r of out) {
    if (r.kind === "benign") r.weight = 1;
    else if (r.kind === "tunnel") r.weight = (threat * tunnelShare) / tunnels;
    else r.weight = (threat * (1 - tunnelShare)) / dga;
  }
  return out;
}
