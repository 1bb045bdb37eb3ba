// Tests of the NetworkFlowModeler: FlowStatistics of a flow set, congestion levels from each indicator,
// bandwidth prediction 60 s ahead with a 95 % interval that holds the truth, and recommendations.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Anomaly } from "../../../lib/src/avro.js";
import { BandwidthPredictor } from "../src/bandwidth.js";
import { analyzeCongestion, CongestionDetector, emptyCongestionTotals } from "../src/congestion.js";
import { FlowModeler, flowStatistics, recommendOptimizations } from "../src/flow-modeler.js";
import { flow } from "./events.js";

const T0 = 1_700_000_040_000;

test("FlowStatistics of two flows", () => {
  const a = flow({ t: T0 + 1000, durationMs: 1000, packets_fwd: 5, packets_rev: 5, bytes_fwd: 500, bytes_rev: 500, iat_sum_us: 900_000, iat_sumsq_us2: 9 * 100_000 ** 2 });
  const b = flow({ t: T0 + 2000, durationMs: 5, packets_fwd: 1, packets_rev: 1, bytes_fwd: 100, bytes_rev: 100 });
  const s = flowStatistics([a, b], 1e6);
  assert.equal(s.mean_packet_size, 1200 / 12);
  assert.equal(s.packet_rate_per_second, 12 / 2);
  assert.equal(s.bandwidth_utilization, (1200 * 8) / 2 / 1e6);
  assert.deepEqual(s.flow_duration_histogram.counts, [0, 1, 0, 1, 0, 0, 0, 0, 0]);
  assert.equal(s.inter_arrival_time_distribution.count, 10);
});

test("congestion levels: retransmissions, zero windows, RTT against the baseline, and both together", () => {
  const t = { ...emptyCongestionTotals(), flows: 10, packets: 1000 };
  assert.equal(analyzeCongestion({ ...t, retransmissions: 10 }, null).level, "none");
  assert.equal(analyzeCongestion({ ...t, retransmissions: 60 }, null).level, "medium");
  assert.equal(analyzeCongestion({ ...t, zeroWindows: 25 }, null).level, "high");
  assert.equal(analyzeCongestion({ ...t, rttSum: 10 * 45, rttCount: 10 }, 20).level, "medium");
  const both = analyzeCongestion({ ...t, retransmissions: 25, rttSum: 10 * 32, rttCount: 10 }, 20);
  assert.deepEqual(both.indicators, ["retransmissions", "rtt_rising"]);
  assert.equal(both.level, "medium");
  assert.equal(analyzeCongestion({ ...t, packets: 50, retransmissions: 40 }, null).level, "none", "too few packets to judge");
});

test("the congestion detector learns a destination's RTT and flags when it triples with loss", () => {
  const d = new CongestionDetector({ warmupWindows: 5, latenessMs: 1000 });
  const out: Anomaly[] = [];
  for (let m = 0; m < 8; m++) for (let i = 0; i < 30; i++) d.observe(flow({ t: T0 + m * 60_000 + i * 1000, dst_addr: "198.18.1.9", rtt_us: 20_000 }), out);
  for (let i = 0; i < 30; i++) d.observe(flow({ t: T0 + 8 * 60_000 + i * 1000, dst_addr: "198.18.1.9", rtt_us: 65_000, retransmissions: 1 }), out);
  d.flush(out);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.detector, "flow.congestion");
  assert.equal(out[0]!.threat_level, "high");
  assert.equal(out[0]!.evidence.find((e) => e.name === "rtt_baseline")?.value, 20);
  assert.match(out[0]!.recommendation, /fq_codel/);
});

test("bandwidth 60 s ahead: a ramp is extrapolated and the 95 % interval holds the truth", () => {
  const p = new BandwidthPredictor({ latenessMs: 0 });
  const bytesAt = (s: number) => 1_000_000 + 10_000 * s + (((s * 7919) % 11) - 5) * 5000;
  for (let s = 0; s < 300; s++) p.add(T0 + s * 1000, T0 + s * 1000 + 999, bytesAt(s));
  p.advanceTo(T0 + 300_000);
  const f = p.predict(60_000)!;
  assert.equal(f.method, "holt");
  assert.equal(f.coverage, 0.95);
  assert.equal(f.atMs, T0 + (299 + 60) * 1000);
  const truth = bytesAt(359) * 8;
  assert.ok(f.lowerBps <= truth && truth <= f.upperBps, `${truth} not in [${f.lowerBps}, ${f.upperBps}]`);
  assert.ok(Math.abs(f.predictedBps - truth) / truth < 0.1, `${f.predictedBps} vs ${truth}`);
});

test("a long flow's bytes are spread over the seconds it lasted", () => {
  const p = new BandwidthPredictor({ latenessMs: 0 });
  p.add(T0, T0 + 4000, 4000);
  p.advanceTo(T0 + 5000);
  assert.deepEqual(p.series().bps, [8000, 8000, 8000, 8000, 0]);
});

test("modelFlows: statistics, prediction, congestion and recommendations together", async () => {
  const m = new FlowModeler({ linkCapacityBps: 1e6 });
  const flows = Array.from({ length: 120 }, (_, i) => flow({ t: T0 + i * 1000, durationMs: 999, bytes_fwd: 100_000 + i * 100, packets_fwd: 100, packets_rev: 100, retransmissions: 20 }));
  const model = await m.modelFlows(flows);
  assert.equal(model.confidenceInterval, 0.95);
  assert.ok(model.bandwidthPrediction !== null && model.bandwidthPrediction.method === "holt");
  assert.equal(model.congestion.level, "high");
  const kinds = model.optimizations.map((o) => o.kind);
  assert.ok(kinds.includes("congestion_control"), kinds.join());
  assert.ok(kinds.includes("capacity"), kinds.join());
  assert.deepEqual(recommendOptimizations(flowStatistics([]), analyzeCongestion(emptyCongestionTotals(), null), null).map((o) => o.kind), ["none"]);
});
