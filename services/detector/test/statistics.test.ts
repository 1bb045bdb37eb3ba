// Tests of the StatisticalAnalyzer: every method finds what it is for on series with a known answer, and
// predictions choose Holt-Winters for a daily cycle with intervals that contain the truth.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StoqStatisticalAnalyzer, type DataPoint, type StatisticalAnalyzer } from "../src/statistics.js";

const H = 3_600_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % H);

function series(values: readonly number[], stepMs = H): DataPoint[] {
  return values.map((value, i) => ({ timestampMs: T0 + i * stepMs, value }));
}

function wobble(i: number): number {
  return ((i * 7919) % 13) - 6;
}

test("a spike is found by EWMA and the robust detector; a step by CUSUM", async () => {
  const a: StatisticalAnalyzer = new StoqStatisticalAnalyzer({ warmup: 20 });
  const values = Array.from({ length: 80 }, (_, i) => 100 + wobble(i) + (i === 50 ? 200 : 0) + (i >= 65 ? 25 : 0));
  const found = await a.detectAnomalies(series(values, 60_000));
  const spike = found.find((f) => f.index === 50);
  assert.ok(spike, "spike found");
  assert.deepEqual([...spike.methods].filter((m) => m !== "change_point"), ["ewma", "robust"]);
  assert.equal(spike.direction, "up");
  const step = found.find((f) => f.methods.includes("change_point") && f.index >= 60);
  assert.ok(step && step.index >= 63 && step.index <= 70, `step at ${step?.index}`);
  assert.ok(found.every((f) => f.index >= 20), "nothing flagged in the warm-up");
});

test("a daily cycle is recognised; a bump at a usually quiet hour is a seasonal anomaly, not a normal peak", async () => {
  const a = new StoqStatisticalAnalyzer({ warmup: 24 });
  const day = (h: number) => 500 + 400 * Math.sin((2 * Math.PI * h) / 24) + wobble(h);
  const values = Array.from({ length: 24 * 6 }, (_, h) => day(h));
  const quiet = 24 * 5 + 18; // the trough
  values[quiet] = day(quiet) + 300;
  const analysis = await a.analyzeTimeSeries(series(values));
  assert.equal(analysis.seasonality.period, 24);
  assert.equal(analysis.seasonality.seasonal, true);
  const f = analysis.anomalies.find((x) => x.index === quiet);
  assert.ok(f?.methods.includes("seasonal"), JSON.stringify(f));
  assert.ok(analysis.anomalies.every((x) => !x.methods.includes("seasonal") || x.index === quiet || x.index === quiet + 1));
});

test("predictTrends: Holt-Winters for a cycle, intervals contain the next day", async () => {
  const a = new StoqStatisticalAnalyzer();
  const day = (h: number) => 500 + 400 * Math.sin((2 * Math.PI * h) / 24) + wobble(h);
  const p = await a.predictTrends(series(Array.from({ length: 24 * 6 }, (_, h) => day(h))), 24 * H);
  assert.equal(p.method, "holt_winters");
  assert.equal(p.points.length, 24);
  assert.equal(p.atHorizon.timestampMs, T0 + (24 * 6 - 1 + 24) * H);
  for (const [i, pt] of p.points.entries()) {
    const truth = day(24 * 6 + i);
    assert.ok(truth >= pt.lower && truth <= pt.upper, `hour ${i}: ${truth} not in [${pt.lower}, ${pt.upper}]`);
  }
});

test("predictTrends: Holt for a trend without a cycle; trend slope per second", async () => {
  const a = new StoqStatisticalAnalyzer();
  const values = Array.from({ length: 60 }, (_, i) => 1000 + 10 * i + wobble(i));
  const p = await a.predictTrends(series(values, 1000), 60_000);
  assert.equal(p.method, "holt");
  assert.ok(Math.abs(p.atHorizon.mean - (1000 + 10 * 119)) < 60, `${p.atHorizon.mean}`);
  assert.ok(p.atHorizon.lower < p.atHorizon.mean && p.atHorizon.mean < p.atHorizon.upper);
  const an = await a.analyzeTimeSeries(series(values, 1000));
  assert.ok(Math.abs(an.trend.slopePerSecond - 10) < 0.5);
  const stats = await a.calculateStatistics(series(values, 1000));
  assert.equal(stats.count, 60);
});
