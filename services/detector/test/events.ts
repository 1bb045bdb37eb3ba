// Builders of DnsEvent, FlowRecord and CertObservation values for the detector's tests.
import type { CertObservation, DnsEvent, FlowRecord } from "../../../lib/src/avro.js";
import { registeredDomain } from "../../../lib/src/registered-domain.js";

/** A DNS event at `t` ms; `qname` sets the registered domain unless given. */
export function dns(o: Partial<DnsEvent> & { t: number }): DnsEvent {
  const { t, ...rest } = o;
  const qname = rest.qname ?? "www.example.com";
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
    qname,
    registered_domain: registeredDomain(qname),
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

/** A response from the resolver to `client` for `qname`. */
export function dnsResponse(o: Partial<DnsEvent> & { t: number; client?: string }): DnsEvent {
  const { client, ...rest } = o;
  return dns({ is_response: true, src_addr: "198.18.0.1", src_port: 53, dst_addr: client ?? "198.18.0.10", dst_port: 40000, response_size: 120, response_time_us: 800, ...rest });
}

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** A TCP flow record ending at `t` ms. */
export function flow(o: Partial<FlowRecord> & { t: number; durationMs?: number }): FlowRecord {
  const { t, durationMs, ...rest } = o;
  const packetsFwd = rest.packets_fwd ?? 10;
  const packetsRev = rest.packets_rev ?? 10;
  const bytesFwd = rest.bytes_fwd ?? packetsFwd * 500;
  const bytesRev = rest.bytes_rev ?? packetsRev * 500;
  return {
    node: "node-a",
    ip_version: 4,
    protocol: 6,
    src_addr: "198.18.0.10",
    dst_addr: "198.18.1.1",
    src_port: 40000,
    dst_port: 443,
    first_seen_us: Math.round((t - (durationMs ?? 1000)) * 1000),
    last_seen_us: Math.round(t * 1000),
    packets_fwd: packetsFwd,
    packets_rev: packetsRev,
    bytes_fwd: bytesFwd,
    bytes_rev: bytesRev,
    size_sum: bytesFwd + bytesRev,
    size_sumsq: (bytesFwd * bytesFwd) / Math.max(1, packetsFwd) + (bytesRev * bytesRev) / Math.max(1, packetsRev),
    iat_sum_us: 0,
    iat_sumsq_us2: 0,
    iat_min_us: null,
    iat_max_us: null,
    tcp_flags_fwd: TCP.SYN | TCP.ACK | TCP.PSH | TCP.FIN,
    tcp_flags_rev: TCP.SYN | TCP.ACK | TCP.PSH | TCP.FIN,
    syn_count: 2,
    fin_count: 2,
    rst_count: 0,
    retransmissions: 0,
    zero_window_count: 0,
    rtt_us: 20_000,
    end_reason: "fin",
    community_id: null,
    ...rest,
  };
}

/** A half-open attempt: one SYN, nothing back (or an RST with `rst`). */
export function synOnly(o: Partial<FlowRecord> & { t: number; rst?: boolean }): FlowRecord {
  const { rst, ...rest } = o;
  return flow({
    packets_fwd: 1,
    packets_rev: rst ? 1 : 0,
    bytes_fwd: 60,
    bytes_rev: rst ? 40 : 0,
    tcp_flags_fwd: TCP.SYN,
    tcp_flags_rev: rst ? TCP.RST | TCP.ACK : 0,
    syn_count: 1,
    fin_count: 0,
    rst_count: rst ? 1 : 0,
    rtt_us: null,
    end_reason: rst ? "rst" : "idle_timeout",
    durationMs: 0,
    ...rest,
  });
}

export function cert(o: Partial<CertObservation> & { t: number }): CertObservation {
  const { t, ...rest } = o;
  return {
    event_time_us: Math.round(t * 1000),
    node: "node-a",
    sha256: "00".repeat(32),
    subject: "CN=www.example.com",
    issuer: "CN=Example CA,O=Example",
    san_dns: ["www.example.com"],
    san_ip: [],
    serial: "1",
    not_before_ms: t - 30 * 86_400_000,
    not_after_ms: t + 60 * 86_400_000,
    key_algorithm: "rsa",
    key_size: 2048,
    signature_algorithm: "sha256WithRSAEncryption",
    is_ca: false,
    self_signed: false,
    chain_position: 0,
    chain_length: 2,
    sni: "www.example.com",
    server_addr: "198.18.1.1",
    server_port: 443,
    client_addr: "198.18.0.10",
    tls_version: 0x0303,
    sct_present: true,
    ...rest,
  };
}
