import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeAs, encode, type CertObservation, type DnsEvent, type FlowRecord } from "../../../lib/src/avro.js";
import { runCapture } from "../src/conformance-score.js";
import { certObservation, dnsEvent, flowRecord } from "../src/records.js";
import { communityId } from "../src/community-id.js";
import { allCaptures } from "./tshark.js";

const capture = (suffix: string): string => allCaptures().find((p) => p.endsWith(suffix))!;

test("DNS, flow and certificate records from real captures round-trip through Avro with the design's keys", async () => {
  const mixed = await runCapture(capture("suricata-verify/mixed-ethernet-dns-tls-flow/test.pcap"));
  assert.ok(mixed.dns.length > 0 && mixed.flows.length > 0 && mixed.certs.length > 0);
  for (const { obs } of mixed.dns) {
    const { key, value } = dnsEvent(obs, "n1");
    assert.equal(key, value.registered_domain);
    assert.equal(value.event_time_us, obs.tsUs);
    assert.deepEqual(decodeAs<DnsEvent>("DnsEvent", encode("DnsEvent", value)), value);
  }
  for (const { flow } of mixed.flows) {
    const { key, value } = flowRecord(flow, "n1");
    assert.equal(key, value.src_addr);
    assert.deepEqual(decodeAs<FlowRecord>("FlowRecord", encode("FlowRecord", value)), value);
  }
  for (const { obs } of mixed.certs) {
    const { key, value } = certObservation(obs, "n1");
    assert.equal(key, value.sha256);
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.deepEqual(decodeAs<CertObservation>("CertObservation", encode("CertObservation", value)), value);
  }
});

test("a matched response carries the query's size and the response time", async () => {
  const out = await runCapture(capture("dns-udp-cname-a-dig/input.pcap"));
  const resp = out.dns.find((d) => d.rec.is_response)!.rec;
  assert.equal(resp.qname, "www.suricata-ids.org");
  assert.equal(resp.registered_domain, "suricata-ids.org");
  assert.ok(resp.response_time_us !== null && resp.response_time_us > 0);
  assert.ok(resp.query_size !== null && resp.response_size !== null);
  assert.deepEqual(resp.answers.map((a) => a.data), ["suricata-ids.org.", "192.0.78.24", "192.0.78.25"]);
});

test("community ID matches the values Zeek and Arkime computed for the same flows", () => {
  // From arkime/dns-mx and arkime/conn-two-vlan-tags expected output.
  assert.equal(communityId(17, "10.180.156.185", 51427, "10.2.95.39", 53), "1:ba6AVEG/hzl+V9BnSJZnWVTUR6U=");
  assert.equal(communityId(6, "10.0.0.2", 80, "10.0.0.1", 54422), "1:SPYgVgvcW0g9bsfBLLnTtlWJezA=");
});
