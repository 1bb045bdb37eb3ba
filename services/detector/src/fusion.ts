// Fusion: one threat level per entity from every detector's recent anomalies, with the evidence and the
// recommendation that back it. Pure; the service writes its output to Redis.
import type { Anomaly, EntityType, Evidence, ThreatLevel } from "../../../lib/src/avro.js";
import { levelRank, THREAT_LEVELS } from "./anomaly.js";

export interface EntityThreat {
  readonly entityType: EntityType;
  readonly entity: string;
  readonly level: ThreatLevel;
  /** Highest severity among the contributing anomalies. */
  readonly score: number;
  /** Noisy-OR of the detectors' confidences: independent detectors agreeing make the verdict surer. */
  readonly confidence: number;
  readonly detectors: readonly string[];
  readonly anomalyIds: readonly string[];
  readonly evidence: readonly Evidence[];
  readonly recommendation: string;
  /** Event time of the newest contributing anomaly. */
  readonly updatedAtMs: number;
}

export interface FusionOptions {
  /** Anomalies older than this (event time, before the entity's newest) no longer count. */
  readonly horizonMs: number;
  /** Entities tracked; the least recently updated is forgotten past it. */
  readonly maxEntities: number;
}

interface Held {
  readonly anomalies: Map<string, Anomaly>;
}

export function entityKey(type: EntityType, entity: string): string {
  return `${type}:${entity}`;
}

export class Fusion {
  private readonly entities = new Map<string, Held>();

  constructor(private readonly o: FusionOptions) {}

  get size(): number {
    return this.entities.size;
  }

  /** Adds an anomaly (a re-sent id replaces its earlier version) and returns the entity's fused threat. */
  add(a: Anomaly): EntityThreat {
    const key = entityKey(a.entity_type, a.entity);
    let h = this.entities.get(key);
    if (h === undefined) h = { anomalies: new Map() };
    else this.entities.delete(key);
    this.entities.set(key, h);
    if (this.entities.size > this.o.maxEntities) this.entities.delete(this.entities.keys().next().value!);
    h.anomalies.set(a.id, a);
    const newest = Math.max(...[...h.anomalies.values()].map((x) => x.detected_at_ms));
    for (const [id, x] of h.anomalies) if (x.detected_at_ms < newest - this.o.horizonMs) h.anomalies.delete(id);
    return fuse([...h.anomalies.values()]);
  }

  get(type: EntityType, entity: string): EntityThreat | null {
    const h = this.entities.get(entityKey(type, entity));
    return h === undefined || h.anomalies.size === 0 ? null : fuse([...h.anomalies.values()]);
  }
}

/**
 * The fused verdict over one entity's anomalies: the highest level among them, one level higher when at
 * least two different detectors independently rate it medium or above (corroboration), never above critical.
 */
export function fuse(anomalies: readonly Anomaly[]): EntityThreat {
  if (anomalies.length === 0) throw new RangeError("fuse: no anomalies");
  const first = anomalies[0]!;
  const byDetector = new Map<string, Anomaly>();
  for (const a of anomalies) {
    const b = byDetector.get(a.detector);
    if (b === undefined || rank(a) > rank(b)) byDetector.set(a.detector, a);
  }
  const best = [...byDetector.values()].sort((a, b) => rank(b) - rank(a))[0]!;
  let level = levelRank(best.threat_level);
  const corroborating = [...byDetector.values()].filter((a) => levelRank(a.threat_level) >= levelRank("medium")).length;
  if (corroborating >= 2) level = Math.min(level + 1, THREAT_LEVELS.length - 1);
  let miss = 1;
  for (const a of byDetector.values()) miss *= 1 - a.confidence;
  return {
    entityType: first.entity_type,
    entity: first.entity,
    level: THREAT_LEVELS[level]!,
    score: Math.max(...anomalies.map((a) => a.score)),
    confidence: 1 - miss,
    detectors: [...byDetector.keys()].sort(),
    anomalyIds: anomalies.map((a) => a.id),
    evidence: [...byDetector.values()].flatMap((a) => a.evidence.slice(0, 3).map((e) => ({ ...e, name: `${a.detector}:${e.name}` }))),
    recommendation: best.recommendation,
    updatedAtMs: Math.max(...anomalies.map((a) => a.detected_at_ms)),
  };
}

// Level first, then severity, then confidence.
function rank(a: Anomaly): number {
  return levelRank(a.threat_level) * 4 + a.score * 2 + a.confidence;
}
