// The detector's current state in Redis, laid out for Grafana's Redis data source and StoqClient:
//
//   anomaly:<id>                  HASH  one anomaly: every Anomaly field, evidence as JSON; TTL anomalyTtl
//   anomalies:recent              ZSET  anomaly ids, score = detected_at_ms (event time); newest maxRecent kept
//   threat:<entity_type>:<entity> HASH  fused verdict: level, level_rank, score, confidence, detectors,
//                                       anomaly_ids, recommendation, evidence (JSON), updated_at_ms; TTL threatTtl
//   threats                       ZSET  "<entity_type>:<entity>", score = level_rank + confidence/2, so
//                                       ZREVRANGE threats 0 9 lists the worst entities first
//   detector:quality              HASH  false_positive_rate, false_negative_rate, labelled, tp, fp, fn
//   bandwidth:prediction          HASH  predicted_bps, lower_bps, upper_bps, current_bps, at_ms, horizon_ms,
//                                       coverage, history, method: the flows' bit rate 60 s ahead
//
// Keys carry the configured key prefix (infrastructure.redis.key_prefix, default "stoq:") through the client.
import type { Redis } from "ioredis";
import type { Anomaly } from "../../../lib/src/avro.js";
import { levelRank } from "./anomaly.js";
import type { BandwidthPrediction } from "./bandwidth.js";
import { entityKey, type EntityThreat } from "./fusion.js";

export const REDIS_KEYS = {
  anomaly: (id: string) => `anomaly:${id}`,
  recent: "anomalies:recent",
  threat: (type: string, entity: string) => `threat:${type}:${entity}`,
  threats: "threats",
  quality: "detector:quality",
  bandwidth: "bandwidth:prediction",
} as const;

export interface StateStoreOptions {
  readonly anomalyTtlSeconds?: number;
  readonly threatTtlSeconds?: number;
  readonly maxRecent?: number;
}

export interface QualityState {
  readonly falsePositiveRate: number;
  readonly falseNegativeRate: number;
  readonly labelled: number;
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
}

export class StateStore {
  private readonly anomalyTtl: number;
  private readonly threatTtl: number;
  private readonly maxRecent: number;

  constructor(
    private readonly redis: Redis,
    o: StateStoreOptions = {},
  ) {
    this.anomalyTtl = o.anomalyTtlSeconds ?? 7 * 86_400;
    this.threatTtl = o.threatTtlSeconds ?? 86_400;
    this.maxRecent = o.maxRecent ?? 10_000;
  }

  /** Writes the anomalies and their entities' fused threats in one round trip (MULTI). */
  async write(anomalies: readonly Anomaly[], threats: readonly EntityThreat[]): Promise<void> {
    if (anomalies.length === 0 && threats.length === 0) return;
    const m = this.redis.multi();
    for (const a of anomalies) {
      const key = REDIS_KEYS.anomaly(a.id);
      m.hset(key, {
        id: a.id,
        detector: a.detector,
        entity_type: a.entity_type,
        entity: a.entity,
        window_start_ms: a.window_start_ms,
        window_end_ms: a.window_end_ms,
        score: a.score,
        z_score: a.z_score ?? "",
        threat_level: a.threat_level,
        confidence: a.confidence,
        evidence: JSON.stringify(a.evidence),
        recommendation: a.recommendation,
        detected_at_ms: a.detected_at_ms,
        model_version: a.model_version ?? "",
      });
      m.expire(key, this.anomalyTtl);
      m.zadd(REDIS_KEYS.recent, a.detected_at_ms, a.id);
    }
    if (anomalies.length > 0) m.zremrangebyrank(REDIS_KEYS.recent, 0, -(this.maxRecent + 1));
    for (const t of threats) {
      const key = REDIS_KEYS.threat(t.entityType, t.entity);
      const rank = levelRank(t.level);
      m.del(key);
      m.hset(key, {
        entity_type: t.entityType,
        entity: t.entity,
        level: t.level,
        level_rank: rank,
        score: t.score,
        confidence: t.confidence,
        detectors: t.detectors.join(","),
        anomaly_ids: t.anomalyIds.join(","),
        recommendation: t.recommendation,
        evidence: JSON.stringify(t.evidence),
        updated_at_ms: t.updatedAtMs,
      });
      m.expire(key, this.threatTtl);
      m.zadd(REDIS_KEYS.threats, rank + t.confidence / 2, entityKey(t.entityType, t.entity));
    }
    await m.exec();
  }

  async writeBandwidth(p: BandwidthPrediction): Promise<void> {
    await this.redis.hset(REDIS_KEYS.bandwidth, {
      predicted_bps: p.predictedBps,
      lower_bps: p.lowerBps,
      upper_bps: Number.isFinite(p.upperBps) ? p.upperBps : "inf",
      current_bps: p.currentBps,
      at_ms: p.atMs,
      horizon_ms: p.horizonMs,
      coverage: p.coverage,
      history: p.history,
      method: p.method,
    });
  }

  async writeQuality(q: QualityState): Promise<void> {
    await this.redis.hset(REDIS_KEYS.quality, {
      false_positive_rate: q.falsePositiveRate,
      false_negative_rate: q.falseNegativeRate,
      labelled: q.labelled,
      tp: q.truePositives,
      fp: q.falsePositives,
      fn: q.falseNegatives,
    });
  }
}

/** Reads one anomaly back from its hash (what a client or a test does). */
export async function readAnomaly(redis: Redis, id: string): Promise<Record<string, string> | null> {
  const h = await redis.hgetall(REDIS_KEYS.anomaly(id));
  return Object.keys(h).length === 0 ? null : h;
}
