// Tests of lib/src/avro.ts and lib/src/avro-fingerprint.ts: fingerprints against the Avro specification's
// vectors, round trips of every record, framing, rejection of bad input, and schema evolution.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import avro from "avsc";
import {
  AvroCodec,
  LONG_MAX,
  LONG_MIN,
  RECORD_NAMES,
  SCHEMA_DIR,
  avroType,
  decode,
  decodeAs,
  encode,
  modelUpdateSigningPayload,
  openModelUpdate,
  projection,
  recordNameOf,
  schemaVersions,
  singleObjectHeader,
  type RecordName,
} from "../src/avro.js";
import type { RecordMap } from "../src/avro-records.js";
import { fingerprintBytes, parsingCanonicalForm, rabinFingerprint } from "../src/avro-fingerprint.js";
import { isStoqError } from "../src/errors.js";
import { generateKeyPairSync, sign, verify } from "node:crypto";

const MAX_LONG = LONG_MAX;
const MIN_LONG = LONG_MIN;
const MAX_INT = 2 ** 31 - 1;
const MIN_INT = -(2 ** 31);

// Two samples per record: a realistic full one, and one with every nullable field null, every array
// empty and 64-bit / 32-bit edge values.
const SAMPLES: { [N in RecordName]: [RecordMap[N], RecordMap[N]] } = {
  DnsEvent: [
    {
      event_time_us: 1_717_000_000_123_456,
      node: "node-a",
      src_addr: "192.0.2.10",
      src_port: 53,
      dst_addr: "2001:db8::1",
      dst_port: 41234,
      transport: "udp",
      txid: 0xbeef,
      is_response: true,
      opcode: 0,
      qname: "www.example.co.uk",
      registered_domain: "example.co.uk",
      qtype: 1,
      qclass: 1,
      rcode: 0,
      flags: { aa: false, tc: false, rd: true, ra: true, ad: true, cd: false },
      answers: [
        { name: "www.example.co.uk", type: 5, ttl: 300, data: "example.co.uk" },
        { name: "example.co.uk", type: 1, ttl: 2 ** 32 - 1, data: "93.184.216.34" },
      ],
      answer_count: 2,
      authority_count: 0,
      additional_count: 1,
      edns: { udp_size: 1232, do_bit: true, version: 0 },
      query_size: 45,
      response_size: 93,
      response_time_us: 1834,
      model_score: -12345,
      verdict: "observe",
      model_version: 42,
    },
    {
      event_time_us: MAX_LONG,
      node: "",
      src_addr: "0.0.0.0",
      src_port: 0,
      dst_addr: "::",
      dst_port: 65535,
      transport: "tcp",
      txid: 0,
      is_response: false,
      opcode: 15,
      qname: "",
      registered_domain: "",
      qtype: 65535,
      qclass: 255,
      rcode: 4095,
      flags: { aa: true, tc: true, rd: false, ra: false, ad: false, cd: true },
      answers: [],
      answer_count: 0,
      authority_count: 0,
      additional_count: 0,
      edns: null,
      query_size: null,
      response_size: null,
      response_time_us: null,
      model_score: null,
      verdict: null,
      model_version: null,
    },
  ],
  FlowRecord: [
    {
      node: "node-b",
      ip_version: 4,
      protocol: 6,
      src_addr: "198.18.0.2",
      dst_addr: "198.18.0.1",
      src_port: 51515,
      dst_port: 443,
      first_seen_us: 1_717_000_000_000_000,
      last_seen_us: 1_717_000_012_500_000,
      packets_fwd: 120,
      packets_rev: 180,
      bytes_fwd: 15_000,
      bytes_rev: 240_000,
      size_sum: 255_000,
      size_sumsq: 312_000_000.5,
      iat_sum_us: 12_500_000,
      iat_sumsq_us2: 1.2e12,
      iat_min_us: 3,
      iat_max_us: 2_000_000,
      tcp_flags_fwd: 0x1b,
      tcp_flags_rev: 0x1a,
      syn_count: 2,
      fin_count: 2,
      rst_count: 0,
      retransmissions: 3,
      zero_window_count: 1,
      rtt_us: 850,
      end_reason: "fin",
      community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
    },
    {
      node: "n",
      ip_version: 6,
      protocol: 17,
      src_addr: "fe80::1",
      dst_addr: "ff02::fb",
      src_port: 5353,
      dst_port: 5353,
      first_seen_us: MIN_LONG,
      last_seen_us: MAX_LONG,
      packets_fwd: MAX_LONG,
      packets_rev: 0,
      bytes_fwd: MAX_LONG,
      bytes_rev: 0,
      size_sum: MAX_LONG,
      size_sumsq: 1.7976931348623157e308,
      iat_sum_us: 0,
      iat_sumsq_us2: 0,
      iat_min_us: null,
      iat_max_us: null,
      tcp_flags_fwd: 0,
      tcp_flags_rev: 0,
      syn_count: 0,
      fin_count: 0,
      rst_count: MAX_INT,
      retransmissions: 0,
      zero_window_count: 0,
      rtt_us: null,
      end_reason: "shutdown",
      community_id: null,
    },
  ],
  CertObservation: [
    {
      event_time_us: 1_717_000_000_500_000,
      node: "node-a",
      sha256: "a".repeat(64),
      subject: "CN=www.example.com,O=Example Inc,C=US",
      issuer: "CN=Example CA,O=Example Inc,C=US",
      san_dns: ["www.example.com", "example.com"],
      san_ip: ["192.0.2.1"],
      serial: "3f2a9c",
      not_before_ms: 1_700_000_000_000,
      not_after_ms: 1_731_536_000_000,
      key_algorithm: "ec",
      key_size: 256,
      signature_algorithm: "ecdsa-with-SHA256",
      is_ca: false,
      self_signed: false,
      chain_position: 0,
      chain_length: 3,
      sni: "www.example.com",
      server_addr: "192.0.2.1",
      server_port: 443,
      client_addr: "198.18.0.2",
      tls_version: 0x0303,
      sct_present: true,
    },
    {
      event_time_us: 0,
      node: "n",
      sha256: "0".repeat(64),
      subject: "",
      issuer: "",
      san_dns: [],
      san_ip: [],
      serial: "0",
      not_before_ms: MIN_LONG,
      not_after_ms: 253_402_300_799_000, // 9999-12-31T23:59:59Z, the X.509 "no expiry" date
      key_algorithm: "rsa",
      key_size: 4096,
      signature_algorithm: "1.2.840.113549.1.1.11",
      is_ca: true,
      self_signed: true,
      chain_position: 0,
      chain_length: 1,
      sni: null,
      server_addr: "::1",
      server_port: 8443,
      client_addr: "::1",
      tls_version: 0x0301,
      sct_present: false,
    },
  ],
  FeatureVector: [
    {
      event_time_us: 1_717_000_000_123_456,
      node: "node-a",
      src_addr: "198.18.0.2",
      feature_spec: 1,
      values: [120, 7, 96, 1834, 0, 3, MAX_INT, MIN_INT, -1],
      score: 123456,
      verdict: "drop",
      model_version: 7,
      slot: "active",
      context: "xkqjwhfa.example.com",
    },
    {
      event_time_us: 1,
      node: "",
      src_addr: "::",
      feature_spec: 0,
      values: [],
      score: MIN_INT,
      verdict: "pass",
      model_version: MAX_LONG,
      slot: "shadow",
      context: null,
    },
  ],
  WindowAggregate: [
    {
      window_start_ms: 1_717_000_000_000,
      window_end_ms: 1_717_000_060_000,
      size_ms: 60_000,
      hop_ms: 10_000,
      kind: "hopping",
      dimension: "registered_domain",
      key: "example.com",
      stream: "dns",
      count: 1234,
      rate_per_s: 20.566666666666666,
      measures: [
        { name: "response_time_us", count: 1200, mean: 1834.5, variance: 2.5e5, min: 12, max: 99_000, p50: 1500, p90: 3000, p99: 40_000 },
        { name: "query_size", count: 1234, mean: 44.1, variance: 3.2, min: 29, max: 80, p50: null, p90: null, p99: null },
      ],
      distinct: [{ name: "qname", estimate: 97 }],
      top_k_of: "qname",
      top_k: [
        { key: "www.example.com", count: 1000 },
        { key: "api.example.com", count: 234 },
      ],
      flow_stats: {
        mean_packet_size: 850.5,
        variance_packet_size: 120_000.25,
        packet_rate_per_second: 5000,
        bandwidth_utilization: 0.034,
        link_capacity_bps: 10e9,
        flow_duration_histogram: { upper_bounds: [1, 10, 100, 1000], counts: [5, 10, 20, 3, 1] },
        inter_arrival_time_distribution: { count: 9999, mean: 200, variance: 4e4, min: 1, max: 1e6 },
      },
      late_count: 2,
      final: false,
      aggregator_instance: "aggregator-0",
      revision: 3,
    },
    {
      window_start_ms: 0,
      window_end_ms: 1000,
      size_ms: 1000,
      hop_ms: 1000,
      kind: "tumbling",
      dimension: "global",
      key: "",
      stream: null,
      count: MAX_LONG,
      rate_per_s: 0,
      measures: [],
      distinct: [],
      top_k_of: null,
      top_k: [],
      flow_stats: null,
      late_count: 0,
      final: true,
      aggregator_instance: "",
      revision: MAX_LONG,
    },
  ],
  Anomaly: [
    {
      id: "f".repeat(64),
      detector: "dns.rate_ewma",
      entity_type: "registered_domain",
      entity: "evil.example",
      window_start_ms: 1_717_000_000_000,
      window_end_ms: 1_717_000_001_000,
      score: 7.25,
      z_score: 7.25,
      threat_level: "high",
      confidence: 0.93,
      evidence: [
        { name: "count", value: 900, unit: "queries/s", detail: null },
        { name: "baseline", value: 12.5, unit: "queries/s", detail: "ewma alpha=0.01" },
      ],
      recommendation: "Inspect clients querying evil.example; consider blocking it at the resolver.",
      detected_at_ms: 1_717_000_001_000,
      model_version: 3,
    },
    {
      id: "",
      detector: "cert.self_signed",
      entity_type: "certificate",
      entity: "0".repeat(64),
      window_start_ms: MIN_LONG,
      window_end_ms: MAX_LONG,
      score: -0,
      z_score: null,
      threat_level: "none",
      confidence: 0,
      evidence: [],
      recommendation: "",
      detected_at_ms: 0,
      model_version: null,
    },
  ],
  Label: [
    {
      entity_type: "qname",
      entity: "xkqjwhfa.example.com",
      label: "malicious",
      family: "dga",
      source: "threat_intel",
      source_ref: "bambenek-dga-feed",
      confidence: 0.99,
      labelled_at_ms: 1_717_000_000_000,
      note: "conficker family",
    },
    {
      entity_type: "source",
      entity: "198.18.0.2",
      label: "benign",
      family: null,
      source: "analyst",
      source_ref: null,
      confidence: 1,
      labelled_at_ms: MAX_LONG,
      note: null,
    },
  ],
  ModelUpdate: [
    {
      model_name: "dns-threat",
      version: 1_717_000_000_001,
      feature_spec: 1,
      quant_rules: 1,
      created_at_ms: 1_717_000_000_000,
      training_metrics: { accuracy: 0.97, precision: 0.95, recall: 0.9, samples: 120_000 },
      n_in: 2,
      n_hidden: 3,
      in_zero: [0, -5],
      in_mul: [65536, 32768],
      b1: [100, -200, MAX_INT],
      w1: Buffer.from(new Int8Array([127, -128, 0, 1, -1, 64]).buffer),
      h_mul: 1 << 20,
      h_shift: 24,
      w2: Buffer.from(new Int8Array([5, -7, 127]).buffer),
      b2: -1000,
      threshold: 4242,
      threat_threshold: 0.85,
      output_scale: 0.001953125,
      ngram_bits: 6,
      ngram_shift: 16,
      ngram: Buffer.from(Int8Array.from({ length: 64 * 3 }, (_, i) => (i % 256) - 128).buffer),
      signing_key_id: "0123456789abcdef",
      signature: Buffer.alloc(64, 0xab),
    },
    {
      model_name: "m",
      version: MAX_LONG,
      feature_spec: 0,
      quant_rules: 1,
      created_at_ms: 0,
      training_metrics: {},
      n_in: 0,
      n_hidden: 0,
      in_zero: [],
      in_mul: [],
      b1: [],
      w1: Buffer.alloc(0),
      h_mul: MIN_INT,
      h_shift: 31,
      w2: Buffer.alloc(0),
      b2: MIN_INT,
      threshold: MAX_INT,
      threat_threshold: 0.5,
      output_scale: 1,
      ngram_bits: 0,
      ngram_shift: 0,
      ngram: Buffer.alloc(0),
      signing_key_id: "",
      signature: Buffer.alloc(0),
    },
  ],
  DlqEntry: [
    {
      origin_topic: "stoq.dns.v1",
      partition: 5,
      offset: 123_456_789,
      record_timestamp_ms: 1_717_000_000_000,
      key: Buffer.from("example.com"),
      value: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      error_code: "RECORD_UNDECODABLE",
      error_message: "bad magic dead: expected c301",
      consumer_group: "stoq-aggregator",
      service: "aggregator",
      failed_at_ms: 1_717_000_000_100,
    },
    {
      origin_topic: "",
      partition: 0,
      offset: MAX_LONG,
      record_timestamp_ms: null,
      key: null,
      value: Buffer.alloc(0),
      error_code: "",
      error_message: "",
      consumer_group: "",
      service: "",
      failed_at_ms: 0,
    },
  ],
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isStoqError(e) ? `${e.code}: ${e.message}` : `not a StoqError: ${String(e)}`;
  }
  return "no error";
}

function assertCode(fn: () => unknown, code: string, messagePart?: RegExp): void {
  const got = codeOf(fn);
  assert.ok(got.startsWith(`${code}:`), `expected ${code}, got ${got}`);
  if (messagePart) assert.match(got, messagePart);
}

test("CRC-64-AVRO matches the Avro specification's test vectors", () => {
  // share/test/data/schema-tests.txt of apache/avro, as signed 64-bit values.
  const vectors: Array<[string, bigint]> = [
    ['"null"', 7195948357588979594n],
    ['"boolean"', -6970731678124411036n],
    ['"int"', 8247732601305521295n],
    ['"long"', -3434872931120570953n],
    ['"float"', 5583340709985441680n],
    ['"double"', -8181574048448539266n],
    ['"bytes"', 5746618253357095269n],
    ['"string"', -8142146995180207161n],
    ['{"name":"foo","type":"record","fields":[]}', -4824392279771201922n],
  ];
  for (const [text, expected] of vectors) assert.equal(BigInt.asIntN(64, rabinFingerprint(text)), expected, text);
  // The single-object header of "int" as given in the Avro Ruby implementation's tests.
  assert.equal(
    Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytes("int")]).toString("hex"),
    "c3018f5c393f1ad57572",
  );
});

test("Parsing Canonical Form follows the specification's rules", () => {
  assert.equal(parsingCanonicalForm({ type: "int", logicalType: "date" }), '"int"');
  assert.equal(parsingCanonicalForm({ fields: [], type: "record", name: "foo", doc: "x" }), '{"name":"foo","type":"record","fields":[]}');
  assert.equal(
    parsingCanonicalForm({
      type: "record",
      name: "R",
      namespace: "a.b",
      aliases: ["Q"],
      fields: [
        { name: "e", type: { type: "enum", name: "E", symbols: ["X", "Y"], default: "X" }, default: "X" },
        { name: "f", type: "E" },
        { name: "g", type: { type: "fixed", name: "c.F", size: 16 } },
        { name: "h", type: ["null", { type: "map", values: { type: "array", items: "F" } }] },
      ],
    }),
    '{"name":"a.b.R","type":"record","fields":[{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["X","Y"]}},' +
      '{"name":"f","type":"a.b.E"},{"name":"g","type":{"name":"c.F","type":"fixed","size":16}},' +
      '{"name":"h","type":["null",{"type":"map","values":{"type":"array","items":"a.b.F"}}]}]}',
  );
});

test("every schema's canonical form agrees with avsc's, and the header carries its fingerprint", () => {
  for (const name of RECORD_NAMES) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.avsc`), "utf8")) as object;
    assert.equal(parsingCanonicalForm(schema), JSON.stringify(avro.Type.forSchema(schema as avro.Schema).schema()), name);
    const header = singleObjectHeader(name);
    assert.equal(header.length, 10);
    assert.deepEqual([...header.subarray(0, 2)], [0xc3, 0x01]);
    assert.equal(header.readBigUInt64LE(2), rabinFingerprint(parsingCanonicalForm(schema)), name);
    assert.equal((schema as { namespace?: string }).namespace, "io.stoq", name);
  }
});

// Every record value in `value` has exactly the fields of its schema, in order: the TypeScript interfaces
// (which type the samples) cannot drift from the schemas without this failing.
function assertSameFields(type: avro.Type, value: unknown, path: string): void {
  const t = type as avro.Type & { fields?: Array<{ name: string; type: avro.Type }>; itemsType?: avro.Type; valuesType?: avro.Type; types?: avro.Type[] };
  if (value === null || value === undefined) return;
  if (t.fields) {
    assert.deepEqual(Object.keys(value), t.fields.map((f) => f.name), `fields of ${path}`);
    for (const f of t.fields) assertSameFields(f.type, (value as Record<string, unknown>)[f.name], `${path}.${f.name}`);
  } else if (t.itemsType) {
    (value as unknown[]).forEach((v, i) => assertSameFields(t.itemsType as avro.Type, v, `${path}[${i}]`));
  } else if (t.types) {
    const branch = t.types.find((b) => b.typeName !== "null");
    if (branch) assertSameFields(branch, value, path);
  }
}

test("the TypeScript samples have exactly the schemas' fields and validate against them", () => {
  for (const name of RECORD_NAMES) {
    for (const [i, sample] of SAMPLES[name].entries()) {
      assertSameFields(avroType(name), sample, `${name}#${i}`);
      assert.ok(avroType(name).isValid(sample, { noUndeclaredFields: true }), `${name}#${i}`);
    }
  }
});

test("every record round-trips, with nulls, empty arrays and 64-bit edge values", () => {
  for (const name of RECORD_NAMES) {
    for (const sample of SAMPLES[name]) {
      const buf = encode(name, sample);
      assert.deepEqual(buf.subarray(0, 10), singleObjectHeader(name));
      assert.deepEqual(buf.subarray(10), avroType(name).toBuffer(sample), `${name} body is plain Avro binary`);
      const got = decode(buf);
      assert.equal(got.name, name);
      assert.deepStrictEqual(got.value, sample);
      assert.deepStrictEqual(decodeAs(name, buf), sample);
      assert.equal(recordNameOf(buf), name);
    }
  }
});

test("encode rejects invalid values with RECORD_INVALID naming the field path", () => {
  const dns = SAMPLES.DnsEvent[0];
  const badTtl = { ...dns, answers: [dns.answers[0], { ...dns.answers[1], ttl: "300" }] };
  assertCode(() => encode("DnsEvent", badTtl), "RECORD_INVALID", /DnsEvent\.answers\[1\]\.ttl = '300' is not an integer/);
  assertCode(() => encode("DnsEvent", { ...dns, event_time_us: 2 ** 52 }), "RECORD_INVALID", /DnsEvent\.event_time_us = 4503599627370496 is not an integer in/);
  assertCode(() => encode("DnsEvent", { ...dns, response_time_us: -(2 ** 52) - 1 }), "RECORD_INVALID", /response_time_us/);
  assertCode(() => encode("DnsEvent", { ...dns, transport: "quic" }), "RECORD_INVALID", /transport = 'quic' is not one of udp, tcp/);
  assertCode(() => encode("DnsEvent", { ...dns, src_port: 1.5 }), "RECORD_INVALID", /src_port/);
  assertCode(() => encode("DnsEvent", { ...dns, edns: { udp_size: 512, do_bit: 1, version: 0 } }), "RECORD_INVALID", /DnsEvent\.edns\.do_bit = 1/);
  const { qname: _q, ...missing } = dns;
  assertCode(() => encode("DnsEvent", missing), "RECORD_INVALID", /DnsEvent\.qname = undefined/);
  // Undeclared properties are not written (and not rejected: see encode).
  assert.deepStrictEqual(decode(encode("DnsEvent", { ...dns, response_time: 5 })).value, dns);
  assertCode(() => encode("DnsEvent", { ...dns, flags: "rd" }), "RECORD_INVALID", /DnsEvent\.flags = 'rd' is not an io\.stoq\.DnsFlags record/);
  assertCode(() => encode("FlowRecord", dns), "RECORD_INVALID");
  assertCode(() => encode("Nope" as RecordName, dns), "SCHEMA_UNKNOWN");
});

test("decode rejects bad magic, unknown fingerprints, truncation and trailing bytes", () => {
  const buf = encode("DnsEvent", SAMPLES.DnsEvent[0]);
  assertCode(() => decode(Buffer.alloc(0)), "RECORD_UNDECODABLE", /shorter than the 10-byte header/);
  assertCode(() => decode(Buffer.from(JSON.stringify(SAMPLES.Label[0]))), "RECORD_UNDECODABLE", /bad magic/);
  const wrongVersion = Buffer.from(buf);
  wrongVersion[1] = 0x02;
  assertCode(() => decode(wrongVersion), "RECORD_UNDECODABLE", /bad magic c302/);
  const unknown = Buffer.from(buf);
  unknown[9] = (unknown[9] ?? 0) ^ 0xff;
  assertCode(() => decode(unknown), "RECORD_UNDECODABLE", /unknown schema fingerprint/);
  assert.equal(recordNameOf(unknown), null);
  for (let len = 0; len < buf.length; len++) assertCode(() => decode(buf.subarray(0, len)), "RECORD_UNDECODABLE");
  assertCode(() => decode(Buffer.concat([buf, Buffer.from([0])])), "RECORD_UNDECODABLE", /1 trailing bytes/);
  assertCode(() => decodeAs("FlowRecord", buf), "RECORD_UNDECODABLE", /expected a FlowRecord record, got a DnsEvent/);
});

test("garbled bodies are rejected quickly, never crash or exhaust memory", () => {
  // FeatureVector: event_time_us=1, node="", src_addr="", feature_spec=1, then an array claiming 10^9 items.
  const header = singleObjectHeader("FeatureVector");
  const hugeArray = Buffer.concat([header, Buffer.from([0x02, 0x00, 0x00, 0x02, 0x80, 0xa8, 0xd6, 0xb9, 0x07, 0x00])]);
  const started = process.hrtime.bigint();
  assertCode(() => decode(hugeArray), "RECORD_UNDECODABLE", /truncated/);
  // A map claiming 10^9 entries (ModelUpdate.training_metrics after its first five fields).
  const hugeMap = Buffer.concat([singleObjectHeader("ModelUpdate"), Buffer.from([0x00, 0x02, 0x02, 0x02, 0x02, 0x80, 0xa8, 0xd6, 0xb9, 0x07, 0x00])]);
  assertCode(() => decode(hugeMap), "RECORD_UNDECODABLE", /truncated/);
  assert.ok(process.hrtime.bigint() - started < 1_000_000_000n, "garbled input took over a second");
  // An enum index out of range, and random bodies of every record: an error or a valid value, nothing else.
  const fv = encode("FeatureVector", SAMPLES.FeatureVector[1]);
  const badEnum = Buffer.from(fv);
  badEnum[badEnum.length - 4] = 0x7e; // the verdict index (zigzag 63), before model_version, slot, context
  assertCode(() => decode(badEnum), "RECORD_UNDECODABLE");
  let seed = 12345;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
  for (const name of RECORD_NAMES) {
    for (let i = 0; i < 200; i++) {
      const body = Buffer.from(Array.from({ length: 1 + (i % 60) }, rand));
      const msg = Buffer.concat([singleObjectHeader(name), body]);
      const got = codeOf(() => decode(msg));
      assert.ok(got === "no error" || got.startsWith("RECORD_UNDECODABLE:"), `${name}: ${got}`);
    }
  }
  // Longs avsc cannot read exactly (another implementation can write them) are refused, not rounded:
  // 2^60, and -(2^52) - 1 whose zigzag form 2^53 + 1 would otherwise round to +2^52.
  const flowSchema = JSON.parse(readFileSync(join(SCHEMA_DIR, "FlowRecord.avsc"), "utf8")) as { fields: Array<{ name: string }> };
  const sample = { ...SAMPLES.FlowRecord[0], packets_fwd: 0 };
  const before = avro.Type.forSchema({ ...flowSchema, fields: flowSchema.fields.slice(0, 9) } as avro.Schema);
  const at = 10 + before.toBuffer(project(before, sample)).length; // offset of packets_fwd, encoded as 0x00
  const flow = encode("FlowRecord", sample);
  assert.equal(flow[at], 0x00);
  const zigzag = (z: bigint): Buffer => {
    const out: number[] = [];
    for (; z >= 0x80n; z >>= 7n) out.push(Number(z & 0x7fn) | 0x80);
    return Buffer.from([...out, Number(z)]);
  };
  for (const z of [2n ** 61n, 2n ** 53n + 1n]) {
    const unsafe = Buffer.concat([flow.subarray(0, at), zigzag(z), flow.subarray(at + 1)]);
    assertCode(() => decode(unsafe), "RECORD_UNDECODABLE", /long .* is outside/);
  }
  const edge = Buffer.concat([flow.subarray(0, at), zigzag(2n ** 53n - 1n), flow.subarray(at + 1)]);
  assert.equal(decodeAs<RecordMap["FlowRecord"]>("FlowRecord", edge).packets_fwd, LONG_MIN);
});

// The value a writer schema can hold: the sample restricted to the writer's fields.
function project(type: avro.Type, value: unknown): unknown {
  const t = type as avro.Type & { fields?: Array<{ name: string; type: avro.Type }>; itemsType?: avro.Type; types?: avro.Type[] };
  if (value === null || typeof value !== "object" || Buffer.isBuffer(value)) return value;
  if (t.fields) {
    return Object.fromEntries(t.fields.map((f) => [f.name, project(f.type, (value as Record<string, unknown>)[f.name])]));
  }
  if (t.itemsType) return (value as unknown[]).map((v) => project(t.itemsType as avro.Type, v));
  if (t.types) return project(t.types.find((b) => b.typeName !== "null") ?? type, value);
  return value;
}

// What the current reader should produce from `written`: fields the writer lacks take their defaults.
function withDefaults(reader: avro.Type, written: unknown): unknown {
  const t = reader as avro.Type & {
    fields?: Array<{ name: string; type: avro.Type; defaultValue(): unknown }>;
    itemsType?: avro.Type;
    types?: avro.Type[];
  };
  if (written === null || typeof written !== "object" || Buffer.isBuffer(written)) return written;
  if (t.fields) {
    const w = written as Record<string, unknown>;
    return Object.fromEntries(t.fields.map((f) => [f.name, f.name in w ? withDefaults(f.type, w[f.name]) : f.defaultValue()]));
  }
  if (t.itemsType) return (written as unknown[]).map((v) => withDefaults(t.itemsType as avro.Type, v));
  if (t.types) return withDefaults(t.types.find((b) => b.typeName !== "null") ?? reader, written);
  return written;
}

test("every released version of every schema is read by the current reader", () => {
  for (const name of RECORD_NAMES) {
    const versions = schemaVersions(name);
    assert.ok(versions.length >= 1, `${name} has no released version in schemas/history/${name}/`);
    for (const version of versions) {
      const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, "history", name, `${version}.avsc`), "utf8")) as avro.Schema;
      const writer = avro.Type.forSchema(schema);
      for (const sample of SAMPLES[name]) {
        const written = project(writer, sample);
        assert.ok(writer.isValid(written), `${name} ${version}: the sample does not fit; give it a value for ${version}`);
        const buf = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytes(schema), writer.toBuffer(written)]);
        assert.deepStrictEqual(decodeAs(name, buf), withDefaults(avroType(name), written), `${name} ${version}`);
      }
    }
  }
});

test("the current schema of every record is its latest released version", () => {
  for (const name of RECORD_NAMES) {
    const latest = schemaVersions(name).at(-1);
    const current = readFileSync(join(SCHEMA_DIR, `${name}.avsc`), "utf8");
    const released = readFileSync(join(SCHEMA_DIR, "history", name, `${latest}.avsc`), "utf8");
    assert.equal(
      parsingCanonicalForm(JSON.parse(current)),
      parsingCanonicalForm(JSON.parse(released)),
      `${name} changed since ${latest}: copy it to schemas/history/${name}/v${Number(latest?.slice(1)) + 1}.avsc`,
    );
  }
});

test("a record written before a defaulted field was added is read with the default", () => {
  const dir = mkdtempSync(join(tmpdir(), "stoq-avro-"));
  try {
    const current = JSON.parse(readFileSync(join(SCHEMA_DIR, "DnsEvent.avsc"), "utf8")) as { fields: Array<{ name: string }> };
    // v1 lacked model_version and edns; v2 (current) added them with default null.
    const v1 = { ...current, fields: current.fields.filter((f) => f.name !== "model_version" && f.name !== "edns") };
    mkdirSync(join(dir, "history", "DnsEvent"), { recursive: true });
    writeFileSync(join(dir, "DnsEvent.avsc"), JSON.stringify(current));
    writeFileSync(join(dir, "history", "DnsEvent", "v1.avsc"), JSON.stringify(v1));
    writeFileSync(join(dir, "history", "DnsEvent", "v2.avsc"), JSON.stringify(current));
    const codec = new AvroCodec(dir);
    assert.deepEqual(codec.names, ["DnsEvent"]);
    assert.deepEqual(codec.schemaVersions("DnsEvent"), ["v1", "v2"]);

    const writer = avro.Type.forSchema(v1 as avro.Schema);
    const { model_version: _m, edns: _e, ...old } = SAMPLES.DnsEvent[0];
    const buf = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytes(v1), writer.toBuffer(old)]);
    assert.notDeepEqual(buf.subarray(0, 10), codec.header("DnsEvent"));
    assert.deepStrictEqual(codec.decodeAs("DnsEvent", buf), { ...SAMPLES.DnsEvent[0], model_version: null, edns: null });
    // The repository's codec does not know this v1, so it cannot guess.
    assertCode(() => decode(buf), "RECORD_UNDECODABLE", /unknown schema fingerprint/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a ModelUpdate signature covers every field and the writer schema, and verifies from received bytes", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { signature: _s, ...unsigned } = SAMPLES.ModelUpdate[0];
  const payload = modelUpdateSigningPayload(unsigned);
  assert.deepEqual(payload.subarray(0, 10), singleObjectHeader("ModelUpdate"));
  const signature = sign(null, payload, privateKey);
  const message = encode("ModelUpdate", { ...unsigned, signature });
  const opened = openModelUpdate(message);
  assert.deepEqual(opened.payload, payload);
  assert.ok(verify(null, opened.payload, publicKey, opened.update.signature));
  assert.deepStrictEqual(opened.update, { ...unsigned, signature });
  // Changing any field after signing breaks verification.
  const tampered = encode("ModelUpdate", { ...unsigned, threshold: unsigned.threshold + 1, signature });
  const t = openModelUpdate(tampered);
  assert.ok(!verify(null, t.payload, publicKey, t.update.signature));
});

test("a projection decodes only the fields asked for, from any record of that name, and refuses others", () => {
  const fields = ["event_time_us", "qname", "is_response", "response_time_us"];
  const project = projection<Partial<RecordMap["DnsEvent"]>>("DnsEvent", fields);
  for (const ev of SAMPLES.DnsEvent) {
    const full = decodeAs<RecordMap["DnsEvent"]>("DnsEvent", encode("DnsEvent", ev));
    assert.deepEqual(project(encode("DnsEvent", ev)), Object.fromEntries(fields.map((f) => [f, full[f as keyof typeof full]])));
  }
  assertCode(() => project(encode("FlowRecord", SAMPLES.FlowRecord[0])), "RECORD_UNDECODABLE", /expected a DnsEvent record, got a FlowRecord/);
  const good = encode("DnsEvent", SAMPLES.DnsEvent[0]);
  assertCode(() => project(good.subarray(0, good.length - 3)), "RECORD_UNDECODABLE");
  assertCode(() => project(Buffer.concat([good, Buffer.from([0])])), "RECORD_UNDECODABLE", /trailing/);
  assertCode(() => projection("DnsEvent", ["qname", "no_such_field"]), "SCHEMA_UNKNOWN", /no_such_field/);
});

test("a projection reads a record in place between start and end, and a cut record there is refused", () => {
  const fields = ["event_time_us", "qname", "src_addr"];
  const project = projection<Partial<RecordMap["DnsEvent"]>>("DnsEvent", fields);
  const records = SAMPLES.DnsEvent.map((ev) => encode("DnsEvent", ev));
  const all = Buffer.concat(records);
  let at = 0;
  for (const r of records) {
    assert.deepEqual(project(all, at, at + r.length), project(r));
    at += r.length;
  }
  const first = records[0]!;
  // The next record's bytes follow a cut one: it must not borrow them.
  assertCode(() => project(all, 0, first.length - 3), "RECORD_UNDECODABLE");
  assertCode(() => project(all, 0, first.length + 1), "RECORD_UNDECODABLE", /trailing/);
  assertCode(() => project(all, 1, first.length), "RECORD_UNDECODABLE", /magic/);
});
