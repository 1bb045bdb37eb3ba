// The per-name classifier of DNS query names with the in-kernel model (models/dns-query.json): the same
// integer features and int8 arithmetic the XDP program uses, so a verdict here is the kernel's verdict;
// the float twin's logit alongside for comparison.
import { loadModelArtifact, type LoadedModel } from "../../../lib/src/model/artifact.js";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { nameFeatures } from "../../../lib/src/model/features.js";
import { wireOfLabelledName } from "../../../lib/src/model/labelled-csv.js";
import { floatInputs, floatLogit, sigmoid } from "../../../lib/src/model/float-mlp.js";
import { ngramRowsFor, score } from "../../../lib/src/model/int8-mlp.js";

export interface NameScore {
  name: string;
  /** feature_spec v1 name features (indices 0..15). */
  features: Int32Array;
  /** The kernel's int32 output. */
  int8: number;
  /** The float twin's logit. */
  floatLogit: number;
  /** sigmoid(int8 · output_scale): the probability the kernel's threshold is set on. */
  probability: number;
  /** int8 >= threshold: what the kernel decides. */
  threat: boolean;
}

export class QueryNameModel {
  readonly model: LoadedModel;
  private readonly bigram: Int16Array;

  constructor(model: LoadedModel = loadModelArtifact(), bigram: Int16Array = loadBigramTable()) {
    this.model = model;
    this.bigram = bigram;
  }

  /**
   * null for a name the kernel would pass unscored (not a valid DNS name). A "." byte inside a label,
   * which dotted text shows as an empty label, is read back into its label as the kernel sees it.
   */
  score(name: string): NameScore | null {
    const wire = wireOfLabelledName(name);
    const features = wire === null ? null : nameFeatures(wire, this.bigram);
    if (wire === null || features === null) return null;
    const m = this.model;
    const rows = ngramRowsFor(m.quant, wire);
    const int8 = score(m.quant, features, rows);
    return {
      name,
      features,
      int8,
      floatLogit: floatLogit(m.float, floatInputs(m.calibration, features), rows),
      probability: sigmoid(int8 * m.outputScale),
      threat: int8 >= m.quant.threshold,
    };
  }

  /** The float twin's decision threshold on its logit, the same probability as the int8 threshold. */
  get floatThreshold(): number {
    return this.model.quant.threshold * this.model.outputScale;
  }
}
