// Maps observations to the Avro records of the design's topics (DnsEvent, FlowRecord, CertObservation) and
// their Kafka keys: DNS by registered domain, flows by source address, certificates by SHA-256.
import type { CertObservation, DnsEvent, FlowRecord } from "../../../lib/src/avro.js";
import { registeredDomain } from "../../../lib/src/registered-domain.js";
import { rdataText } from "./dns.js";
import type { CertSeen, DnsObservation } from "./observer.js";
import type { FlowExport } from "./flow-table.js";
import { communityId } from "./community-id.js";

export interface Keyed<T> {
  readonly key: string;
  readonly value: T;
}

export function dnsEvent(o: DnsObservation, node: string): Keyed<DnsEvent> {
  const m = o.message;
  const q = m.questions[0];
  // A response without a question (mDNS announcements) is named by its first answer, as Zeek does.
  const qname = (q?.name ?? m.answers[0]?.name ?? "").toLowerCase();
  const registered = registeredDomain(qname);
  const value: DnsEvent = {
    event_time_us: o.tsUs,
    node,
    src_addr: o.src,
    src_port: o.srcPort,
    dst_addr: o.dst,
    dst_port: o.dstPort,
    transport: o.transport,
    txid: m.id,
    is_response: m.qr,
    opcode: m.opcode,
    qname,
    registered_domain: registered,
    qtype: q?.type ?? 0,
    qclass: q?.class ?? 0,
    rcode: m.qr ? m.rcode : 0,
    flags: { aa: m.aa, tc: m.tc, rd: m.rd, ra: m.ra, ad: m.ad, cd: m.cd },
    answers: m.answers.map((rr) => ({ name: rr.name.toLowerCase(), type: rr.type, ttl: rr.ttl, data: rdataText(rr) })),
    // The header's counts, so a truncated or malformed message still says what it claimed to carry.
    answer_count: m.counts.an,
    authority_count: m.counts.ns,
    additional_count: m.counts.ar,
    edns: m.edns ? { udp_size: m.edns.udpSize, do_bit: m.edns.dnssecOk, version: m.edns.version } : null,
    query_size: m.qr ? (o.query?.size ?? null) : m.size,
    response_size: m.qr ? m.size : null,
    response_time_us: o.query ? o.tsUs - o.query.tsUs : null,
    model_score: null,
    verdict: null,
    model_version: null,
  };
  return { key: registered, value };
}

export function flowRecord(f: FlowExport, node: string): Keyed<FlowRecord> {
  const packets = f.fwd.packets + f.rev.packets;
  const value: FlowRecord = {
    node,
    ip_version: f.ipVersion,
    protocol: f.proto,
    src_addr: f.initiator,
    dst_addr: f.responder,
    src_port: f.initiatorPort,
    dst_port: f.responderPort,
    first_seen_us: f.firstUs,
    last_seen_us: f.lastUs,
    packets_fwd: f.fwd.packets,
    packets_rev: f.rev.packets,
    bytes_fwd: f.fwd.ipBytes,
    bytes_rev: f.rev.ipBytes,
    size_sum: f.fwd.ipBytes + f.rev.ipBytes,
    size_sumsq: f.fwd.sizeSumSq + f.rev.sizeSumSq,
    iat_sum_us: f.iatSum,
    iat_sumsq_us2: f.iatSumSq,
    iat_min_us: packets >= 2 ? f.iatMin : null,
    iat_max_us: packets >= 2 ? f.iatMax : null,
    tcp_flags_fwd: f.fwd.tcpFlags,
    tcp_flags_rev: f.rev.tcpFlags,
    syn_count: f.synCount,
    fin_count: f.finCount,
    rst_count: f.rstCount,
    retransmissions: f.fwd.retransmissions + f.rev.retransmissions,
    zero_window_count: f.fwd.zeroWindow + f.rev.zeroWindow,
    rtt_us: f.rttUs,
    end_reason: f.endReason,
    community_id: communityId(f.proto, f.initiator, f.initiatorPort, f.responder, f.responderPort),
  };
  return { key: f.initiator, value };
}

const KEY_ALGORITHM: Record<string, string> = { rsa: "rsa", ecdsa: "ec", dsa: "dsa", ed25519: "ed25519", ed448: "ed448" };

export function certObservation(c: CertSeen, node: string): Keyed<CertObservation> {
  const x = c.cert;
  const value: CertObservation = {
    event_time_us: c.tsUs,
    node,
    sha256: x.sha256,
    subject: x.subject,
    issuer: x.issuer,
    san_dns: x.sanDns,
    san_ip: x.sanIp,
    serial: x.serial.toLowerCase().replace(/^0+(?=.)/, ""),
    not_before_ms: x.notBeforeMs,
    not_after_ms: x.notAfterMs,
    key_algorithm: KEY_ALGORITHM[x.keyType] ?? x.keyAlgorithm,
    key_size: x.keyBits,
    signature_algorithm: x.signatureAlgorithm,
    is_ca: x.isCa,
    self_signed: x.selfSigned,
    chain_position: c.chainPosition,
    chain_length: c.chainLength,
    sni: c.sni,
    server_addr: c.server,
    server_port: c.serverPort,
    client_addr: c.client,
    tls_version: c.tlsVersion,
    sct_present: x.hasSct || c.sctExtension,
  };
  return { key: x.sha256, value };
}
