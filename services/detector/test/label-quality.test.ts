// Tests of detection quality against labels: rates from any arrival order, relabelling, and labels from
// detections ignored.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Label } from "../../../lib/src/avro.js";
import { LabelQuality } from "../src/label-quality.js";

function label(entity: string, l: Label["label"], source: Label["source"] = "analyst"): Label {
  return { entity_type: "registered_domain", entity, label: l, family: null, source, source_ref: null, confidence: 1, labelled_at_ms: 0, note: null };
}
const flag = (entity: string) => ({ entity_type: "registered_domain" as const, entity });

test("TP, FP and FN whatever comes first", () => {
  const q = new LabelQuality();
  q.flagged(flag("evil.example"));
  q.label(label("evil.example", "malicious"));
  q.label(label("fine.example", "benign"));
  q.flagged(flag("fine.example"));
  q.label(label("missed.example", "suspicious", "threat_intel"));
  q.label(label("missed2.example", "malicious", "threat_intel"));
  q.flagged(flag("unlabelled.example"));
  const c = q.counts();
  assert.deepEqual([c.truePositives, c.falsePositives, c.falseNegatives, c.labelled], [1, 1, 2, 4]);
  assert.equal(c.falsePositiveRate, 0.5);
  assert.equal(c.falseNegativeRate, 2 / 3);
});

test("a relabel moves the entity between counts; labels from detections are not evidence", () => {
  const q = new LabelQuality();
  q.flagged(flag("x.example"));
  q.label(label("x.example", "benign"));
  assert.equal(q.counts().falsePositives, 1);
  q.label(label("x.example", "malicious"));
  assert.deepEqual([q.counts().falsePositives, q.counts().truePositives], [0, 1]);
  assert.equal(q.label(label("y.example", "malicious", "detection")), false);
  assert.equal(q.counts().falseNegatives, 0);
  assert.equal(q.flagged(flag("x.example")), false, "a second flag changes nothing");
});

test("the entity bound evicts the oldest and its counts", () => {
  const q = new LabelQuality(2);
  q.label(label("a.example", "malicious"));
  q.label(label("b.example", "malicious"));
  q.label(label("c.example", "malicious"));
  assert.equal(q.counts().falseNegatives, 2);
  assert.equal(q.labelOf("registered_domain", "a.example"), null);
});
