// The pcap evaluation on the shared captures, through the collector's parsers and the service's detector
// set: each capture's expected detection fires and nothing else does; the other captures are the controls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { evalPcap, kindOf } from "../src/eval-pcap.js";

const PCAP = new URL("../../../../shared/data/pcap/", import.meta.url).pathname;

test("CIC-DDoS2019 SYN flood: a flood on 192.168.50.4, nothing else", async () => {
  const r = await evalPcap(`${PCAP}CIC-DDoS-2019-SynFlood.pcap`, "flood");
  assert.equal(r.detected, true);
  assert.equal(r.detection?.entity, "192.168.50.4");
  assert.deepEqual(r.other_detections, []);
  assert.equal(r.packets, 26316);
  // Half-open flows leave the collector's flow table at the end of the capture: that is when it fires.
  assert.ok(r.seconds_to_detection !== null && r.seconds_to_detection <= r.capture_seconds);
});

test("masscan: a scan by 172.31.15.102, nothing else; it is no flood", async () => {
  const r = await evalPcap(`${PCAP}masscan__tcp_0_1000_20190821.pcap`, "scan");
  assert.equal(r.detected, true);
  assert.equal(r.detection?.entity, "172.31.15.102");
  assert.deepEqual(r.other_detections, []);
  assert.equal((await evalPcap(`${PCAP}masscan__tcp_0_1000_20190821.pcap`, "flood")).detected, false);
});

test("dns2tcp: a tunnel under hidemyself.org within the first milliseconds, nothing else", async () => {
  const r = await evalPcap(`${PCAP}dns2tcp_netrack_2018-03-23.pcap`, "tunnel");
  assert.equal(r.detected, true);
  assert.equal(r.detection?.entity, "hidemyself.org");
  assert.ok(r.seconds_to_detection! < 0.01, `${r.seconds_to_detection}`);
  assert.deepEqual(r.other_detections, []);
});

test("the one-way all-flags capture raises nothing; the tunnel capture is no flood", async () => {
  const r = await evalPcap(`${PCAP}tcp__control__one_way_all_flags.pcap`, "scan");
  assert.equal(r.detected, false);
  assert.deepEqual(r.other_detections, []);
  assert.equal((await evalPcap(`${PCAP}dns2tcp_netrack_2018-03-23.pcap`, "flood")).detected, false);
});

test("kinds: detector names map to what --expect names; an unknown kind is refused", async () => {
  assert.equal(kindOf("flow.syn_flood"), "flood");
  assert.equal(kindOf("dns.amplification"), "flood");
  assert.equal(kindOf("cert.expired"), "certificate");
  await assert.rejects(evalPcap(`${PCAP}masscan__tcp_0_1000_20190821.pcap`, "worm"), /--expect worm: allowed flood, scan, tunnel/);
});
