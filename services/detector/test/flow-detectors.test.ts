// Tests of the flow detectors on records built here and on two real captures parsed by the collector:
// the CIC-DDoS2019 SYN flood is a flood (not a scan), the masscan capture a vertical scan (not a flood).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Anomaly, FlowRecord } from "../../../lib/src/avro.js";
import { Observer } from "../../collector/src/observer.js";
import { readCapture } from "../../collector/src/pcap.js";
import { flowRecord } from "../../collector/src/records.js";
import { PortScanDetector } from "../src/port-scan.js";
import { SynFloodDetector } from "../src/syn-flood.js";
import { flow, synOnly } from "./events.js";

const PCAP = new URL("../../../../shared/data/pcap/", import.meta.url);
const T0 = 1_700_000_040_000;

/** The capture's flow records as the collector exports them, in the order their first packets came. */
async function flowsOf(file: string): Promise<FlowRecord[]> {
  const flows: FlowRecord[] = [];
  const obs = new Observer((o) => {
    if (o.kind === "flow") flows.push(flowRecord(o.flow, "test").value);
  }, { idleTimeoutUs: 300e6, activeTimeoutUs: 60e6 });
  for await (const p of readCapture(new URL(file, PCAP).pathname)) obs.capture(p);
  obs.flush();
  return flows.sort((a, b) => a.first_seen_us - b.first_seen_us);
}

function run(flows: readonly FlowRecord[]): Anomaly[] {
  const scan = new PortScanDetector();
  const flood = new SynFloodDetector();
  const out: Anomaly[] = [];
  for (const f of flows) {
    flood.observe(f, out);
    scan.observe(f, out);
  }
  flood.flush(out);
  scan.flush(out);
  return out;
}

test("CIC-DDoS2019 SYN flood: a flood on 192.168.50.4 from 172.16.0.5, and no scan", async () => {
  const found = run(await flowsOf("CIC-DDoS-2019-SynFlood.pcap"));
  assert.deepEqual(found.map((a) => [a.detector, a.entity]), [["flow.syn_flood", "192.168.50.4"]]);
  const ev = new Map(found[0]!.evidence.map((e) => [e.name, e]));
  assert.match(ev.get("sources")?.detail ?? "", /^172\.16\.0\.5=/);
  assert.ok(ev.get("syn_rate")!.value > 5000, `rate ${ev.get("syn_rate")?.value}`);
  assert.match(found[0]!.recommendation, /block that source at the edge/);
});

test("masscan ports 0-1000: a vertical scan by 172.31.15.102, and no flood", async () => {
  const found = run(await flowsOf("masscan__tcp_0_1000_20190821.pcap"));
  assert.deepEqual(found.map((a) => [a.detector, a.entity]), [["flow.port_scan", "172.31.15.102"]]);
  const ev = new Map(found[0]!.evidence.map((e) => [e.name, e]));
  assert.equal(ev.get("distinct_ports_on_one_host")?.detail, "198.124.152.15");
  assert.equal(ev.get("failed_share")?.value, 1);
  assert.match(found[0]!.recommendation, /vertical scan/);
});

test("a horizontal scan of port 22 across 60 hosts is found; 60 completed connections are not", () => {
  const probes = Array.from({ length: 60 }, (_, i) => synOnly({ t: T0 + i * 200, src_addr: "198.18.7.7", dst_addr: `198.18.2.${i}`, dst_port: 22, rst: i % 2 === 0 }));
  const normal = Array.from({ length: 60 }, (_, i) => flow({ t: T0 + i * 200, src_addr: "198.18.0.10", dst_addr: `198.18.3.${i}`, dst_port: 443 }));
  const found = run([...probes, ...normal].sort((a, b) => a.first_seen_us - b.first_seen_us));
  assert.deepEqual(found.map((a) => [a.detector, a.entity]), [["flow.port_scan", "198.18.7.7"]]);
  assert.equal(found[0]!.evidence.find((e) => e.name === "distinct_hosts_on_one_port")?.value, 50);
});

test("a spoofed SYN flood (many sources) says so; a busy server with completed handshakes is no flood", () => {
  const spoofed = Array.from({ length: 2000 }, (_, i) => synOnly({ t: T0 + i, src_addr: `10.${(i >> 8) & 255}.${i & 255}.1`, dst_addr: "198.18.1.80", dst_port: 80 }));
  const busy = Array.from({ length: 2000 }, (_, i) => flow({ t: T0 + i, src_addr: `10.9.${(i >> 8) & 255}.${i & 255}`, dst_addr: "198.18.1.81", dst_port: 80, durationMs: 0 }));
  const found = run([...spoofed, ...busy]);
  assert.deepEqual(found.map((a) => [a.detector, a.entity]), [["flow.syn_flood", "198.18.1.80"]]);
  assert.match(found[0]!.recommendation, /likely spoofed/);
});
