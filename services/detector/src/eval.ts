// Evaluation of the per-query model on labelled names it was never trained on: DGA (AUC, TPR at fixed
// FPR, per-family recall) and DNS tunnels (precision, recall, FPR at the deployed threshold), each for
// the int8 model exactly as the kernel scores it and for its float twin.
import { readFileSync } from "node:fs";
import { parseCsv, readCsvRecords, requireColumn, wireOfLabelledName } from "../../../lib/src/model/labelled-csv.js";
import { confusionAt, falsePositiveRate, precision, recall, rocAuc, tprAtFpr } from "../../../lib/src/model/metrics.js";
import { StoqError } from "../../../lib/src/errors.js";
import { registeredDomain } from "../../../lib/src/registered-domain.js";
import type { QueryNameModel } from "./dga.js";

export type ModelKind = "int8" | "float";

export interface DgaResult {
  task: "dga";
  model: ModelKind;
  n: number;
  n_benign: number;
  n_dga: number;
  /** Names that are not valid DNS names: the kernel passes them unscored (benign: pass, DGA: missed). */
  unscored: number;
  auc: number;
  "tpr_at_fpr_1e-2": number;
  "tpr_at_fpr_1e-3": number;
  /** Recall per family at the deployed threshold (threat_threshold). */
  per_family_recall: Record<string, number>;
  /** FPR and TPR of the benign and DGA names at the deployed threshold. */
  fpr_at_threshold: number;
  tpr_at_threshold: number;
}

export interface TunnelResult {
  task: "tunnel";
  model: ModelKind;
  n: number;
  unscored: number;
  precision: number;
  recall: number;
  fpr: number;
  auc: number;
  "tpr_at_fpr_1e-3": number;
  /**
   * Recall at the deployed threshold with every tunnel name's registered domain replaced by one of
   * `parents` (e.g. held-out benign domains): a model that learned the tunnels' parent domains loses
   * recall here. Absent without parents.
   */
  recall_parent_replaced?: number;
}

export interface FalsePositiveResult {
  task: "false_positives";
  model: ModelKind;
  file: string;
  n: number;
  fpr: number;
}

export interface LabelledDomain {
  name: string;
  family: string;
  /** The list a name comes from (a `source` column); absent without one. */
  source?: string;
}

/**
 * The benign names that score highest, with the list each comes from: at FPR 1e-3 only the top 0.1 % of
 * the benign names may score above the threshold, so whether those are clean decides TPR there. Reported,
 * never filtered.
 */
export interface BenignTopResult {
  task: "dga_benign_top";
  model: ModelKind;
  n_benign: number;
  /** Benign names per source list. */
  n_by_source: Record<string, number>;
  /** floor(n_benign · 1e-3): the benign names allowed above the threshold at FPR 1e-3. */
  at_fpr_1e_3: number;
  /** Sources of those highest-scoring names. */
  top_at_fpr_1e_3_by_source: Record<string, number>;
  /** Sources of the highest-scoring 1 % of benign names. */
  top_at_fpr_1e_2_by_source: Record<string, number>;
  /** The `limit` highest-scoring benign names, best first (int8 output or float logit). */
  top: { name: string; source: string; score: number }[];
}

export interface LabelledQuery {
  name: string;
  label: 0 | 1;
}

const UNSCORED = -Infinity;

function scorer(model: QueryNameModel, kind: ModelKind): { of: (name: string) => number; threshold: number } {
  return {
    of: (name) => {
      const s = model.score(name);
      return s === null ? UNSCORED : kind === "int8" ? s.int8 : s.floatLogit;
    },
    threshold: kind === "int8" ? model.model.quant.threshold : model.floatThreshold,
  };
}

export function evalDga(model: QueryNameModel, benign: readonly string[], dga: readonly LabelledDomain[], kind: ModelKind): DgaResult {
  const s = scorer(model, kind);
  const neg = benign.map(s.of);
  const pos = dga.map((d) => s.of(d.name));
  const byFamily = new Map<string, { hit: number; n: number }>();
  dga.forEach((d, i) => {
    const f = byFamily.get(d.family) ?? { hit: 0, n: 0 };
    byFamily.set(d.family, f);
    f.n++;
    if (pos[i]! >= s.threshold) f.hit++;
  });
  const c = confusionAt(pos, neg, s.threshold);
  return {
    task: "dga",
    model: kind,
    n: benign.length + dga.length,
    n_benign: benign.length,
    n_dga: dga.length,
    unscored: [...neg, ...pos].filter((v) => v === UNSCORED).length,
    auc: rocAuc(pos, neg),
    "tpr_at_fpr_1e-2": tprAtFpr(pos, neg, 1e-2).tpr,
    "tpr_at_fpr_1e-3": tprAtFpr(pos, neg, 1e-3).tpr,
    per_family_recall: Object.fromEntries([...byFamily].sort(([a], [b]) => a.localeCompare(b)).map(([f, v]) => [f, v.hit / v.n])),
    fpr_at_threshold: falsePositiveRate(c),
    tpr_at_threshold: recall(c),
  };
}

function countBy(xs: readonly string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => a.localeCompare(b)));
}

export function evalBenignTop(model: QueryNameModel, benign: readonly LabelledDomain[], kind: ModelKind, limit: number): BenignTopResult {
  const s = scorer(model, kind);
  const ranked = benign.map((d) => ({ name: d.name, source: d.source ?? "", score: s.of(d.name) })).sort((a, b) => b.score - a.score);
  const k3 = Math.floor(benign.length * 1e-3);
  const k2 = Math.floor(benign.length * 1e-2);
  return {
    task: "dga_benign_top",
    model: kind,
    n_benign: benign.length,
    n_by_source: countBy(benign.map((d) => d.source ?? "")),
    at_fpr_1e_3: k3,
    top_at_fpr_1e_3_by_source: countBy(ranked.slice(0, k3).map((d) => d.source)),
    top_at_fpr_1e_2_by_source: countBy(ranked.slice(0, k2).map((d) => d.source)),
    top: ranked.slice(0, limit).map((d) => ({ ...d, score: kind === "int8" ? d.score : Number(d.score.toFixed(4)) })),
  };
}

/** The name under another registered domain: the labels left of its own registered domain, then `parent`. */
export function reparented(name: string, parent: string): string {
  const n = name.replace(/\.$/, "");
  const d = registeredDomain(n.toLowerCase());
  const left = n.length > d.length && n.toLowerCase().endsWith("." + d) ? n.slice(0, n.length - d.length - 1) : n;
  return `${left}.${parent.replace(/\.$/, "")}`;
}

export function evalTunnel(model: QueryNameModel, rows: readonly LabelledQuery[], kind: ModelKind, parents: readonly string[] = []): TunnelResult {
  const s = scorer(model, kind);
  const pos: number[] = [];
  const neg: number[] = [];
  for (const r of rows) (r.label === 1 ? pos : neg).push(s.of(r.name));
  const c = confusionAt(pos, neg, s.threshold);
  let replaced: number | undefined;
  if (parents.length > 0) {
    const tunnels = rows.filter((r) => r.label === 1);
    // A parent longer than the one it replaces may push a long name past 255 bytes: take the next that fits.
    const fitting = (name: string, i: number): string => {
      for (let k = 0; k < 32; k++) {
        const n = reparented(name, parents[(i + k) % parents.length]!);
        if (wireOfLabelledName(n) !== null) return n;
      }
      return name;
    };
    const hits = tunnels.filter((r, i) => s.of(fitting(r.name, i)) >= s.threshold).length;
    replaced = tunnels.length === 0 ? NaN : hits / tunnels.length;
  }
  return {
    task: "tunnel",
    model: kind,
    n: rows.length,
    unscored: [...pos, ...neg].filter((v) => v === UNSCORED).length,
    precision: precision(c),
    recall: recall(c),
    fpr: falsePositiveRate(c),
    auc: rocAuc(pos, neg),
    "tpr_at_fpr_1e-3": tprAtFpr(pos, neg, 1e-3).tpr,
    ...(replaced === undefined ? {} : { recall_parent_replaced: replaced }),
  };
}

export function evalFalsePositives(model: QueryNameModel, file: string, names: readonly string[], kind: ModelKind): FalsePositiveResult {
  const s = scorer(model, kind);
  const fp = names.filter((n) => s.of(n) >= s.threshold).length;
  return { task: "false_positives", model: kind, file, n: names.length, fpr: names.length === 0 ? NaN : fp / names.length };
}

/** A domain list: a `domain` column (or `input`, as in ThreatFox), `family` optional. */
export function readDomains(path: string): LabelledDomain[] {
  const records = readCsvRecords(path);
  const column = records[0] !== undefined && !("domain" in records[0]) && "input" in records[0] ? "input" : "domain";
  const names = requireColumn(records, path, column);
  return records.map((r, i) => ({ name: names[i]!, family: r.family || r.class || "unknown", ...(r.source !== undefined ? { source: r.source } : {}) })).filter((d) => d.name.length > 0);
}

/** Only the rows of a ThreatFox-style file whose `label` is `legit`. */
export function readLegit(path: string): string[] {
  const records = readCsvRecords(path);
  const labels = requireColumn(records, path, "label");
  const names = requireColumn(records, path, "input");
  return names.filter((_, i) => labels[i] === "legit");
}

/**
 * Tunnel query names: a CSV with a header holding `name` (or `qname`) and `label` (1 = tunnel), or the
 * netrack form without a header, `label,qname`.
 */
export function readTunnelQueries(path: string): LabelledQuery[] {
  let rows: string[][];
  try {
    rows = parseCsv(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new StoqError("CONFIG_INVALID", `cannot read ${path}: check the path`, { cause });
  }
  const header = rows[0]?.map((h) => h.trim().toLowerCase()) ?? [];
  const nameCol = header.indexOf("name") >= 0 ? header.indexOf("name") : header.indexOf("qname");
  const labelCol = header.indexOf("label");
  const label = (v: string | undefined): 0 | 1 | null => (v === "1" ? 1 : v === "0" ? 0 : null);
  if (nameCol >= 0 && labelCol >= 0) {
    return rows.slice(1).flatMap((r) => {
      const l = label(r[labelCol]?.trim());
      return l === null || !r[nameCol] ? [] : [{ name: r[nameCol], label: l }];
    });
  }
  if (rows.every((r) => label(r[0]) !== null)) {
    // A name may contain commas (tunnel payloads): everything after the label is the name.
    return rows.map((r) => ({ name: r.slice(1).join(","), label: label(r[0])! }));
  }
  throw new StoqError("CONFIG_INVALID", `${path}: expected a header with name (or qname) and label columns, or headerless label,qname rows`);
}
