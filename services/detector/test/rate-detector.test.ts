// Tests of the window-count detector without Kafka: warm-up, minimum count, tasks summed with their latest
// revision, zero-filled gaps for dense dimensions, early flagging of an open window, hopping rows skipped.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Anomaly, WindowAggregate } from "../../../lib/src/avro.js";
import { anomalyId } from "../src/anomaly.js";
import { RateDetector, type RateDetectorOptions } from "../src/rate-detector.js";
import { row } from "./aggregates.js";

const T0 = 1_700_000_000_000;
const opts: RateDetectorOptions = { learningRate: 0.01, threshold: 3, warmupWindows: 10, minWindowCount: 5, closeDelayMs: 5000, maxSeries: 1000 };

function feed(d: RateDetector, rows: WindowAggregate[]): Anomaly[] {
  return rows.flatMap((r) => d.ingest(r)).concat(d.flush());
}

test("no anomaly before warm-up, one after; the id names detector, entity and window", () => {
  const d = new RateDetector(opts);
  const rows: WindowAggregate[] = [];
  for (let i = 0; i < 8; i++) rows.push(row({ start: T0 + i * 1000, count: 100 }));
  rows.push(row({ start: T0 + 8000, count: 1000 })); // only 8 windows of baseline when it arrives
  for (let i = 9; i < 25; i++) rows.push(row({ start: T0 + i * 1000, count: 100 }));
  rows.push(row({ start: T0 + 25_000, count: 1000, dimension: "registered_domain", key: "example.com" }));
  rows.push(row({ start: T0 + 26_000, count: 1000 }));
  const found = feed(d, rows);
  assert.deepEqual(found.map((a) => a.id), [anomalyId("dns.rate_ewma", "global", "all", T0 + 26_000, 1000)]);
});

test("a window under min_window_count is not flagged, however far out", () => {
  const d = new RateDetector({ ...opts, minWindowCount: 50 });
  const rows: WindowAggregate[] = [];
  for (let i = 0; i < 20; i++) rows.push(row({ start: T0 + i * 1000, count: 1 }));
  rows.push(row({ start: T0 + 20_000, count: 40 }));
  assert.deepEqual(feed(d, rows), []);
});

test("tasks are summed with each one's latest revision; an older revision arriving late changes nothing", () => {
  const d = new RateDetector(opts);
  for (let i = 0; i < 15; i++) {
    d.ingest(row({ start: T0 + i * 1000, count: 30, task: "a" }));
    d.ingest(row({ start: T0 + i * 1000, count: 30, task: "b" }));
  }
  const w = T0 + 15_000;
  d.ingest(row({ start: w, count: 40, task: "a", revision: 1 }));
  d.ingest(row({ start: w, count: 35, task: "a", revision: 0 })); // out of order: ignored
  d.ingest(row({ start: w, count: 30, task: "b" }));
  for (let i = 16; i < 30; i++) d.ingest(row({ start: T0 + i * 1000, count: 60 }));
  const b = d.baseline("dns|1000|1000|global|");
  assert.ok(b !== undefined);
  // 15 windows of 60, then 70, then 14 of 60 (running mean while n < 100)
  assert.ok(b.n >= 16);
  const expected = (15 * 60 + 70 + (b.n - 16) * 60) / b.n;
  assert.ok(Math.abs(b.mean - expected) < 1e-9, `${b.mean} vs ${expected}`);
});

test("a burst is flagged while its window is still open, and only once when revisions raise nothing", () => {
  const d = new RateDetector(opts);
  for (let i = 0; i < 20; i++) d.ingest(row({ start: T0 + i * 1000, count: 100 }));
  const early = d.ingest(row({ start: T0 + 20_000, count: 1000, task: "a" }));
  assert.equal(early.length, 1);
  assert.equal(early[0]!.threat_level, "high");
  assert.deepEqual(d.ingest(row({ start: T0 + 20_000, count: 1100, task: "a", revision: 1 })), []);
  assert.deepEqual(d.flush(), []);
});

test("a revision that raises the level re-publishes the same id", () => {
  const d = new RateDetector(opts);
  for (let i = 0; i < 20; i++) d.ingest(row({ start: T0 + i * 1000, count: 100 }));
  const first = d.ingest(row({ start: T0 + 20_000, count: 140, task: "a" }));
  assert.equal(first[0]?.threat_level, "low");
  const again = d.ingest(row({ start: T0 + 20_000, count: 400, task: "a", revision: 1 }));
  assert.equal(again[0]?.id, first[0]?.id);
  assert.equal(again[0]?.threat_level, "high");
});

test("dense dimensions count missing windows as zero; sparse ones do not", () => {
  const d = new RateDetector(opts);
  for (let i = 0; i < 20; i++) {
    const start = T0 + (i < 10 ? i : i + 50) * 1000;
    d.ingest(row({ start, count: 100 }));
    d.ingest(row({ start, count: 100, dimension: "source", key: "198.18.0.1" }));
  }
  d.flush();
  const global = d.baseline("dns|1000|1000|global|")!;
  const source = d.baseline("dns|1000|1000|source|198.18.0.1")!;
  assert.equal(global.n, 70);
  assert.equal(source.n, 20);
  assert.ok(global.mean < 40);
  assert.equal(source.mean, 100);
});

test("a row for a window its series already closed and forgot is counted as too late", () => {
  const d = new RateDetector(opts);
  for (let i = 0; i < 20; i++) d.ingest(row({ start: T0 + i * 1000, count: 100 }));
  d.ingest(row({ start: T0, count: 5000, task: "late" }));
  assert.equal(d.tooLate, 1);
});

test("hopping windows and the flow stream are kept apart from DNS tumbling windows", () => {
  const d = new RateDetector(opts);
  for (let i = 0; i < 20; i++) {
    d.ingest(row({ start: T0 + i * 1000, count: 100 }));
    d.ingest(row({ start: T0 + i * 1000, count: 5, stream: "flow" }));
    d.ingest(row({ start: T0 + i * 1000, count: 99999, kind: "hopping", sizeMs: 60_000, hopMs: 1000 }));
  }
  const found = d.ingest(row({ start: T0 + 20_000, count: 500, stream: "flow" }));
  assert.equal(found[0]?.detector, "flow.rate_ewma");
  assert.equal(d.baseline("dns|1000|1000|global|")?.mean, 100);
  assert.equal(d.baseline("dns|60000|1000|global|"), undefined);
});
