// Tells the two threats the per-query model flags apart, so an analyst sees "DGA domain" or "DNS tunnel"
// rather than "threat": a tunnel carries its data left of its parent domain (the SUB region), a DGA
// puts its randomness in the registered label (SLD) or right under a dynamic-DNS provider.
import { FEATURE, LONG_NAME_SUB_LEN } from "../../../lib/src/model/features.js";
import type { NameScore } from "./dga.js";

export type ThreatKind = "tunnel" | "dga";

/**
 * Tunnel-like: a long sub-part, several data labels, or bytes no host name uses (symbol "other").
 * Everything else the model flags is DGA-like.
 */
export function threatKind(s: Pick<NameScore, "features">): ThreatKind {
  const f = s.features;
  if (f[FEATURE.SUB_LEN]! >= LONG_NAME_SUB_LEN || f[FEATURE.SUB_OTHER]! > 0 || f[FEATURE.SUB_LABELS]! >= 3) return "tunnel";
  return "dga";
}
