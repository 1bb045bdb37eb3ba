// Builders of DnsEvent and FlowRecord values for the aggregator's tests and benchmark.
import type { DnsEvent, FlowRecord } from "../../../lib/src/avro.js";

export function dnsEvent(o: Partial<DnsEvent> & { t: number }): DnsEvent {
  const { t, ...rest } = o;
  return {
    event_time_us: Math.round(t * 1000),
    node: "node-a",
    src_addr: "198.18.0.10",
    src_port: 40000,
    dst_addr: "198.18.0.1",
    dst_port: 53,
    transport: "udp",
    txid: 1,
    is_response: false,
    opcode: 0,
    qname: "www.example.com",
    registered_domain: "example.com",
    qtype: 1,
    qclass: 1,
    rcode: 0,
    flags: { aa: false, tc: false, rd: true, ra: false, ad: false, cd: false },
    answers: [],
    answer_count: 0,
    authority_count: 0,
    additional_count: 0,
    edns: null,
    query_size: 40,
    response_size: null,
    response_time_us: null,
    model_score: null,
    verdict: null,
    model_version: null,
    ...rest,
  };
}

/** A flow ending at `t` (ms) with the given packet sizes and inter-arrival times (µs). */
export function flowRecord(o: { t: number; sizes: number[]; iatsUs?: number[]; durationMs?: number } & Partial<FlowRecord>): FlowRecord {
  const { t, sizes, iatsUs, durationMs, ...rest } = o;
  const iats = iatsUs ?? sizes.slice(1).map(() => 1000);
  const sum = sizes.reduce((a, b) => a + b, 0);
  return {
    node: "node-a",
    ip_version: 4,
    protocol: 6,
    src_addr: "198.18.0.10",
    dst_addr: "198.18.1.1",
    src_port: 40000,
    dst_port: 443,
    first_seen_us: Math.round((t - (durationMs ?? 10)) * 1000),
    last_seen_us: Math.round(t * 1000),
    packets_fwd: sizes.length,
    packets_rev: 0,
    bytes_fwd: sum,
    bytes_rev: 0,
    size_sum: sum,
    size_sumsq: sizes.reduce((a, b) => a + b * b, 0),
    iat_sum_us: iats.reduce((a, b) => a + b, 0),
    iat_sumsq_us2: iats.reduce((a, b) => a + b * b, 0),
    iat_min_us: iats.length > 0 ? Math.min(...iats) : null,
    iat_max_us: iats.length > 0 ? Math.max(...iats) : null,
    tcp_flags_fwd: 0x18,
    tcp_flags_rev: 0,
    syn_count: 1,
    fin_count: 1,
    rst_count: 0,
    retransmissions: 0,
    zero_window_count: 0,
    rtt_us: null,
    end_reason: "fin",
    community_id: null,
    ...rest,
  };
}
