// Tests of fusion: the level per entity is its worst anomaly's, one higher when two detectors agree at
// medium or above; confidences combine by noisy-OR; old anomalies leave the horizon; re-sent ids replace.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Anomaly } from "../../../lib/src/avro.js";
import { toAnomaly } from "../src/anomaly.js";
import { fuse, Fusion } from "../src/fusion.js";

function anomaly(detector: string, score: number, confidence: number, t: number, entity = "198.18.0.66"): Anomaly {
  return toAnomaly({ detector, entityType: "source", entity, windowStartMs: t, windowEndMs: t + 60_000, score, confidence, evidence: [], recommendation: `${detector} advice` });
}

test("one detector: its level, confidence and advice", () => {
  const t = fuse([anomaly("dns.nxdomain_storm", 0.6, 0.8, 0)]);
  assert.equal(t.level, "medium");
  assert.equal(t.confidence, 0.8);
  assert.equal(t.recommendation, "dns.nxdomain_storm advice");
});

test("two detectors agreeing at medium or above raise the level one step; noisy-OR confidence", () => {
  const t = fuse([anomaly("dns.nxdomain_storm", 0.6, 0.8, 0), anomaly("flow.port_scan", 0.8, 0.5, 0)]);
  assert.equal(t.level, "critical");
  assert.ok(Math.abs(t.confidence - (1 - 0.2 * 0.5)) < 1e-12);
  assert.deepEqual(t.detectors, ["dns.nxdomain_storm", "flow.port_scan"]);
  assert.equal(t.recommendation, "flow.port_scan advice");
  assert.equal(fuse([anomaly("a", 0.6, 0.5, 0), anomaly("b", 0.2, 0.5, 0)]).level, "medium", "a low one does not corroborate");
});

test("the horizon forgets old anomalies; a re-sent id replaces its earlier version", () => {
  const f = new Fusion({ horizonMs: 3_600_000, maxEntities: 10 });
  f.add(anomaly("flow.port_scan", 0.9, 0.9, 0));
  const later = f.add(anomaly("dns.nxdomain_storm", 0.3, 0.5, 2 * 3_600_000));
  assert.equal(later.level, "low");
  assert.deepEqual(later.detectors, ["dns.nxdomain_storm"]);
  const again = f.add({ ...anomaly("dns.nxdomain_storm", 0.3, 0.5, 2 * 3_600_000), score: 0.8, threat_level: "high" });
  assert.equal(again.level, "high");
  assert.equal(again.anomalyIds.length, 1);
});

test("the entity bound forgets the least recently updated entity", () => {
  const f = new Fusion({ horizonMs: 3_600_000, maxEntities: 2 });
  f.add(anomaly("x", 0.5, 0.5, 0, "a"));
  f.add(anomaly("x", 0.5, 0.5, 0, "b"));
  f.add(anomaly("x", 0.5, 0.5, 0, "c"));
  assert.equal(f.get("source", "a"), null);
  assert.equal(f.get("source", "c")?.level, "medium");
  assert.equal(f.size, 2);
});
