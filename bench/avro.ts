// Avro codec benchmark: encode and decode records/s of lib/src/avro.ts for a DnsEvent and a FlowRecord,
// with JSON.stringify / JSON.parse of the same objects measured in the same run as the reference.
//
//   npx tsx bench/avro.ts [--json] [--seconds S]   (S per case, default 1)
//
// Each case runs in rounds of a fixed batch until S seconds have passed, after a warm-up, so the JIT has
// compiled avsc's generated readers and writers before timing starts.
import { parseArgs } from "node:util";
import { decode, encode, type DnsEvent, type FlowRecord, type RecordName } from "../lib/src/avro.js";

const { values: args } = parseArgs({
  options: { json: { type: "boolean", default: false }, seconds: { type: "string", default: "1" } },
});
const SECONDS = Number(args.seconds);
if (!(SECONDS > 0 && SECONDS <= 60)) throw new Error(`--seconds ${args.seconds}: allowed 0 < S <= 60`);

const DNS: DnsEvent = {
  event_time_us: 1_717_000_000_123_456,
  node: "node-a",
  src_addr: "192.0.2.53",
  src_port: 53,
  dst_addr: "198.18.0.2",
  dst_port: 41234,
  transport: "udp",
  txid: 0xbeef,
  is_response: true,
  opcode: 0,
  qname: "www.example.com",
  registered_domain: "example.com",
  qtype: 1,
  qclass: 1,
  rcode: 0,
  flags: { aa: false, tc: false, rd: true, ra: true, ad: false, cd: false },
  answers: [
    { name: "www.example.com", type: 5, ttl: 300, data: "example.com" },
    { name: "example.com", type: 1, ttl: 3600, data: "93.184.216.34" },
  ],
  answer_count: 2,
  authority_count: 0,
  additional_count: 1,
  edns: { udp_size: 1232, do_bit: false, version: 0 },
  query_size: 33,
  response_size: 81,
  response_time_us: 1834,
  model_score: -1234,
  verdict: "pass",
  model_version: 42,
};

const FLOW: FlowRecord = {
  node: "node-a",
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
  size_sumsq: 312_000_000,
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
  zero_window_count: 0,
  rtt_us: 850,
  end_reason: "fin",
  community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
};

const BATCH = 10_000;
let sink = 0; // consumed so the optimiser cannot drop the work

function rate(fn: () => void): number {
  const warmUntil = performance.now() + Math.min(300, SECONDS * 300);
  while (performance.now() < warmUntil) fn();
  let n = 0;
  const start = performance.now();
  const stop = start + SECONDS * 1000;
  let now = start;
  while (now < stop) {
    fn();
    n += BATCH;
    now = performance.now();
  }
  return n / ((now - start) / 1000);
}

interface Row {
  record: RecordName;
  op: "encode" | "decode";
  avroPerSec: number;
  jsonPerSec: number;
  avroBytes: number;
  jsonBytes: number;
}

const rows: Row[] = [];
for (const [name, value] of [["DnsEvent", DNS], ["FlowRecord", FLOW]] as const) {
  const bin = encode(name, value);
  const text = JSON.stringify(value);
  const encodeAvro = rate(() => {
    for (let i = 0; i < BATCH; i++) sink += encode(name, value).length;
  });
  const encodeJson = rate(() => {
    for (let i = 0; i < BATCH; i++) sink += JSON.stringify(value).length;
  });
  const decodeAvro = rate(() => {
    for (let i = 0; i < BATCH; i++) sink += decode(bin).name.length;
  });
  const decodeJson = rate(() => {
    for (let i = 0; i < BATCH; i++) sink += (JSON.parse(text) as { node: string }).node.length;
  });
  const sizes = { avroBytes: bin.length, jsonBytes: Buffer.byteLength(text) };
  rows.push({ record: name, op: "encode", avroPerSec: encodeAvro, jsonPerSec: encodeJson, ...sizes });
  rows.push({ record: name, op: "decode", avroPerSec: decodeAvro, jsonPerSec: decodeJson, ...sizes });
}

if (args.json) {
  // One line per record and operation, like the other benchmarks, with the ratio to JSON in the same run.
  for (const r of rows) console.log(JSON.stringify({ bench: "avro", seconds: SECONDS, ...r, ratio: r.avroPerSec / r.jsonPerSec }));
  if (sink === 0) throw new Error("no bytes were produced: the measurement is void");
} else {
  const fmt = (x: number): string => `${(x / 1e3).toFixed(0).padStart(6)}k/s`;
  console.log(`Avro single-object codec vs JSON, same objects, same run (${SECONDS}s per case, Node ${process.version})`);
  console.log("record       op       avro       JSON   avro/JSON   bytes avro/JSON");
  for (const r of rows) {
    console.log(
      `${r.record.padEnd(12)} ${r.op.padEnd(6)} ${fmt(r.avroPerSec)} ${fmt(r.jsonPerSec)}   ${(r.avroPerSec / r.jsonPerSec).toFixed(2).padStart(8)}x   ${r.avroBytes}/${r.jsonBytes}`,
    );
  }
}
