// The shape every detector's finding takes before it becomes an Anomaly record: deterministic ids,
// threat levels and their order, and the severity/confidence conventions shared by all detectors.
import { createHash } from "node:crypto";
import type { Anomaly, EntityType, Evidence, ThreatLevel } from "../../../lib/src/avro.js";

export const THREAT_LEVELS: readonly ThreatLevel[] = ["none", "low", "medium", "high", "critical"];

export function levelRank(level: ThreatLevel): number {
  return THREAT_LEVELS.indexOf(level);
}

export function maxLevel(a: ThreatLevel, b: ThreatLevel): ThreatLevel {
  return levelRank(a) >= levelRank(b) ? a : b;
}

/**
 * Severity (Anomaly.score, 0..1) to threat level. Every detector maps its own magnitude onto this one
 * scale, so levels mean the same thing across detectors and fusion can compare them.
 */
export function levelForScore(score: number): ThreatLevel {
  if (score >= 0.9) return "critical";
  if (score >= 0.75) return "high";
  if (score >= 0.5) return "medium";
  if (score > 0) return "low";
  return "none";
}

/**
 * The id of a detection: hex SHA-256 of detector, entity type, entity, window start and size. Nothing
 * else goes in (no revision, no wall clock), so replaying the same input names the same detections.
 */
export function anomalyId(detector: string, entityType: EntityType, entity: string, windowStartMs: number, windowSizeMs: number): string {
  return createHash("sha256").update(`${detector}\n${entityType}\n${entity}\n${windowStartMs}\n${windowSizeMs}`).digest("hex");
}

export function evidence(name: string, value: number, unit: string, detail: string | null = null): Evidence {
  return { name, value: Number.isFinite(value) ? value : 0, unit, detail };
}

/** What a detector reports; `toAnomaly` adds the id and the level. */
export interface Finding {
  readonly detector: string;
  readonly entityType: EntityType;
  readonly entity: string;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  /** Severity 0..1: how bad, if true. Drives the threat level (levelForScore). */
  readonly score: number;
  /** 0..1: how sure the detector is that this is real. */
  readonly confidence: number;
  readonly zScore?: number | null;
  readonly evidence: readonly Evidence[];
  readonly recommendation: string;
  /** Event time of the detection; default the window end. */
  readonly detectedAtMs?: number;
  /** Caps the level (a rate change alone is never "critical"). */
  readonly maxLevel?: ThreatLevel;
  readonly modelVersion?: number | null;
}

export function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

export function toAnomaly(f: Finding): Anomaly {
  const score = clamp01(f.score);
  let level = levelForScore(score);
  if (level === "none") level = "low";
  if (f.maxLevel !== undefined && levelRank(level) > levelRank(f.maxLevel)) level = f.maxLevel;
  return {
    id: anomalyId(f.detector, f.entityType, f.entity, f.windowStartMs, f.windowEndMs - f.windowStartMs),
    detector: f.detector,
    entity_type: f.entityType,
    entity: f.entity,
    window_start_ms: f.windowStartMs,
    window_end_ms: f.windowEndMs,
    score,
    z_score: f.zScore ?? null,
    threat_level: level,
    confidence: clamp01(f.confidence),
    evidence: [...f.evidence],
    recommendation: f.recommendation,
    detected_at_ms: f.detectedAtMs ?? f.windowEndMs,
    model_version: f.modelVersion ?? null,
  };
}

/**
 * Chebyshev's bound as a distribution-free confidence for a z-score: whatever the series' distribution,
 * a value |z| standard deviations out happens with probability at most 1/z².
 */
export function chebyshevConfidence(z: number): number {
  const a = Math.abs(z);
  return a <= 1 ? 0 : 1 - 1 / (a * a);
}
