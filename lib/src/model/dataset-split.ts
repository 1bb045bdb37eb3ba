// The deterministic train / validation / held-out split of labelled names, by registered domain, shared
// by the trainer (which never reads the held-out part) and the evaluation that reports on it.
import { getDomain } from "tldts";

export type Split = "train" | "validation" | "heldout";

/** Percent of registered domains held out for evaluation; never seen by training or calibration. */
export const HELDOUT_PERCENT = 20;

/**
 * The grouping key: the registered domain with private suffixes honoured (so names under dynamic-DNS
 * providers such as ddns.net are separate groups), or the last two labels when the PSL has no answer.
 * Names sharing a key always land in the same split, so no registered domain is on both sides.
 */
export function groupKey(name: string): string {
  const n = name.toLowerCase().replace(/\.$/, "");
  const d = getDomain(n, { allowPrivateDomains: true });
  if (d !== null && d.length > 0) return d;
  return n.split(".").slice(-2).join(".");
}

/** 0..99 from FNV-1a of the group key. */
export function bucketOf(name: string): number {
  let h = 0x811c9dc5;
  for (const ch of groupKey(name)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h % 100;
}

/** validationFraction is the share of the non-held-out part used to validate (config model_validation_split). */
export function splitOf(name: string, validationFraction: number): Split {
  const b = bucketOf(name);
  if (b < HELDOUT_PERCENT) return "heldout";
  return b < HELDOUT_PERCENT + Math.round(validationFraction * (100 - HELDOUT_PERCENT)) ? "validation" : "train";
}
