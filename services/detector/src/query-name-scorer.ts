// The query-name model (dga.ts: the kernel's int8 model in user space) as the detectors consume it: one
// verdict per name (probability, threat, DGA- or tunnel-like), memoised for the last name so the detectors
// that share an event score it once.
import type { Logger } from "../../../lib/src/log.js";
import { QueryNameModel } from "./dga.js";
import { threatKind } from "./tunnel.js";

export interface NameVerdict {
  readonly probability: number;
  /** What the kernel decides: int8 score at or above the model's threshold. */
  readonly threat: boolean;
  readonly kind: "dga" | "tunnel";
  readonly int8: number;
  readonly threshold: number;
  /** The probability the threshold stands for. */
  readonly thresholdProbability: number;
  readonly modelVersion: number;
}

export type NameScorer = (qname: string) => NameVerdict | null;

export function nameScorer(model: QueryNameModel): NameScorer {
  let lastName: string | null = null;
  let last: NameVerdict | null = null;
  const version = model.model.update.version;
  const threshold = model.model.quant.threshold;
  const thresholdProbability = 1 / (1 + Math.exp(-threshold * model.model.outputScale));
  return (qname) => {
    if (qname === lastName) return last;
    const s = model.score(qname);
    lastName = qname;
    last = s === null ? null : { probability: s.probability, threat: s.threat, kind: threatKind(s), int8: s.int8, threshold, thresholdProbability, modelVersion: version };
    return last;
  };
}

/** The shipped model's scorer, or null (logged) when there is no usable model file. */
export function loadNameScorer(log?: Logger): NameScorer | null {
  try {
    return nameScorer(new QueryNameModel());
  } catch (error) {
    log?.warn({ err: error instanceof Error ? error.message : String(error) }, "no query-name model: dns.dga is off and the tunnel score uses names' shape only");
    return null;
  }
}
