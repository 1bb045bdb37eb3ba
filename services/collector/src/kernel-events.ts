// Maps the kernel's ring-buffer events to the records pcap mode publishes for the same packets: DNS
// events parsed in full by the user-space DNS parser (queries matched to responses for the response
// time), the feature vectors the kernel scored, and certificates reassembled from the TLS segments the
// kernel hands up (user-space TLS and X.509 parsers), which also feed the server facts map.
import type { CertObservation, DnsEvent as DnsRecord, FeatureVector, Verdict } from "../../../lib/src/avro.js";
import { FEATURE_SPEC } from "../../../lib/src/model/features.js";
import { parseDns, type DnsMessage } from "./dns.js";
import type { KernelClock } from "./kernel-clock.js";
import {
  decodeEvent,
  DNS_EVENT_LAYOUT,
  DNS_FLAG,
  EVENT_HEADER_LAYOUT,
  EVENT_KIND,
  formatAddr16,
  MAX_IN,
  PAYLOAD_WHAT,
  STAT,
  TLS_FLAG,
  TUPLE_LAYOUT,
  VERDICT,
  type PayloadEvent,
  type TlsHelloEvent,
} from "./kernel-layout.js";
import type { CertSeen, DnsObservation } from "./observer.js";
import type { PackedEvents } from "./bpf.js";
import { certObservation, dnsEvent } from "./records.js";
import type { ServerFacts } from "./server-facts.js";
import { TcpStream } from "./tcp-stream.js";
import { TlsDirection, type ServerHello, type TlsErrorKind } from "./tls.js";
import { parseCertificate, type CertificateInfo, type X509ErrorKind } from "./x509.js";

export type MappedRecord =
  | { readonly name: "DnsEvent"; readonly key: string; readonly value: DnsRecord }
  | { readonly name: "FeatureVector"; readonly key: string; readonly value: FeatureVector }
  | { readonly name: "CertObservation"; readonly key: string; readonly value: CertObservation };

export interface MapperStats {
  events: { dns: number; tlsHello: number; payload: number; drop: number };
  /** Records the decoder refused (wrong kind or size): never produced by a matching kernel object. */
  undecodable: number;
  dnsErrors: Partial<Record<string, number>>;
  tlsErrors: Partial<Record<TlsErrorKind, number>>;
  x509Errors: Partial<Record<X509ErrorKind, number>>;
  certificates: number;
  /** Connections whose TLS state was dropped to stay within the bound before a chain was complete. */
  tlsStateEvicted: number;
  /** Queries dropped from response matching by the bound (their responses get no response time). */
  pendingEvicted: number;
}

export interface MapperOptions {
  readonly node: string;
  readonly clock: KernelClock;
  /** Where certificates seen become per-server facts for the kernel; null: not written. */
  readonly facts: ServerFacts | null;
  /** How long a query waits for its response, microseconds (as the user-space observer). */
  readonly matchWindowUs?: number;
  readonly maxPendingQueries?: number;
  readonly maxTlsConnections?: number;
}

// Unscored reasons after which the feature vector was still computed in full (bpf/stoq.bpf.c decide()).
const FEATURES_COMPUTED = new Set<number>([
  0,
  STAT.unscored_no_control,
  STAT.unscored_no_model,
  STAT.unscored_feature_spec,
  STAT.unscored_model_shape,
  STAT.unscored_model_changed,
]);
const TLS_SCT_EXTENSION = 18;

interface Pending {
  readonly tsUs: number;
  readonly size: number;
}

interface ServerSide {
  readonly stream: TcpStream;
  readonly tls: TlsDirection;
  serverHello: ServerHello | null;
}

/**
 * The fields of a stoq_dns_event that the records need, read in place from the ring batch: this is the
 * hot path (one per DNS message), so no intermediate objects; the message is a view into the batch
 * buffer, which JavaScript owns.
 */
interface DnsFields {
  readonly tsNs: number;
  readonly saddr: string;
  readonly daddr: string;
  readonly sport: number;
  readonly dport: number;
  readonly modelVersion: number;
  readonly shadowVersion: number;
  readonly score: number;
  readonly shadowScore: number;
  readonly unscored: number;
  readonly verdict: number;
  readonly flags: number;
  readonly id: number;
  readonly msgLen: number;
  readonly featureSpec: number;
  /** The batch and the offset of the int32 features in it (read only for the queries that get a FeatureVector). */
  readonly buf: Buffer;
  readonly featuresAt: number;
  readonly msg: Buffer;
}

const H = EVENT_HEADER_LAYOUT.fields;
const T = TUPLE_LAYOUT.fields;
const D = DNS_EVENT_LAYOUT.fields;
const TUPLE = H.tuple.offset;

/** A u64 as a double: exact below 2^53 (kernel nanoseconds for 104 days, any model version). */
const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;

/** A 16-byte address field; IPv4-mapped ones the quick way. */
function addr16(b: Buffer, at: number): string {
  if (b.readUInt32LE(at) === 0 && b.readUInt32LE(at + 4) === 0 && b.readUInt32LE(at + 8) === 0xffff0000) {
    return `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  }
  return formatAddr16(b.subarray(at, at + 16));
}

/** The DNS event at [off, end) of a batch, or null when it is too short for one. */
function readDns(b: Buffer, off: number, end: number): DnsFields | null {
  const msgAt = off + D.msg.offset;
  if (end < msgAt) return null;
  const captured = Math.min(b.readUInt16LE(off + D.captured.offset), end - msgAt);
  return {
    tsNs: u64(b, off + H.ts_ns.offset),
    saddr: addr16(b, off + TUPLE + T.saddr.offset),
    daddr: addr16(b, off + TUPLE + T.daddr.offset),
    sport: b.readUInt16BE(off + TUPLE + T.sport.offset),
    dport: b.readUInt16BE(off + TUPLE + T.dport.offset),
    modelVersion: u64(b, off + D.model_version.offset),
    shadowVersion: u64(b, off + D.shadow_version.offset),
    score: b.readInt32LE(off + D.score.offset),
    shadowScore: b.readInt32LE(off + D.shadow_score.offset),
    unscored: b.readUInt32LE(off + D.unscored.offset),
    verdict: b[off + D.verdict.offset]!,
    flags: b[off + D.flags.offset]!,
    id: b.readUInt16LE(off + D.id.offset),
    msgLen: b.readUInt16LE(off + D.msg_len.offset),
    featureSpec: b.readUInt32LE(off + D.feature_spec.offset),
    buf: b,
    featuresAt: off + D.features.offset,
    msg: b.subarray(msgAt, msgAt + captured),
  };
}

const connKey = (client: string, clientPort: number, server: string, serverPort: number): string => `${client}|${clientPort}|${server}|${serverPort}`;

function verdictOf(e: DnsFields): Verdict {
  if (e.verdict === VERDICT.drop) return "drop";
  return e.flags & DNS_FLAG.threat ? "observe" : "pass";
}

/** Inserts into a map used as a FIFO of bounded size; returns true when the oldest entry had to go. */
function boundedSet<K, V>(m: Map<K, V>, k: K, v: V, max: number): boolean {
  m.delete(k);
  let evicted = false;
  if (m.size >= max) {
    const oldest = m.keys().next();
    if (!oldest.done) m.delete(oldest.value);
    evicted = true;
  }
  m.set(k, v);
  return evicted;
}

export class KernelEventMapper {
  readonly stats: MapperStats = {
    events: { dns: 0, tlsHello: 0, payload: 0, drop: 0 },
    undecodable: 0,
    dnsErrors: {},
    tlsErrors: {},
    x509Errors: {},
    certificates: 0,
    tlsStateEvicted: 0,
    pendingEvicted: 0,
  };
  readonly #o: MapperOptions;
  readonly #matchWindowUs: number;
  readonly #maxPending: number;
  readonly #maxTls: number;
  readonly #pending = new Map<string, Pending>();
  /** SNI of each connection whose ClientHello was seen, client side first in the key. */
  readonly #sni = new Map<string, string | null>();
  /** Server-to-client handshake streams, keyed as #sni. */
  readonly #servers = new Map<string, ServerSide>();
  /** Connections whose server side was read to the end: their later captured segments are ignored. */
  readonly #serversDone = new Map<string, true>();
  /** Client-to-server streams of ClientHellos split across segments. */
  readonly #clients = new Map<string, { stream: TcpStream; tls: TlsDirection }>();

  constructor(o: MapperOptions) {
    this.#o = o;
    this.#matchWindowUs = o.matchWindowUs ?? 30_000_000;
    this.#maxPending = o.maxPendingQueries ?? 100_000;
    this.#maxTls = o.maxTlsConnections ?? 16_384;
  }

  /** Maps every event of one ring-buffer batch, appending the records to `out`. */
  batch(b: PackedEvents, out: MappedRecord[]): void {
    const { data, offsets, count } = b;
    for (let i = 0, j = 0; i < count; i++, j += 2) this.eventAt(data, offsets[j]!, offsets[j + 1]!, out);
  }

  /** Maps the ring-buffer record at [off, end) of `b`. Never throws on what the kernel sent: faults are counted. */
  eventAt(b: Buffer, off: number, end: number, out: MappedRecord[]): void {
    if (end - off >= EVENT_HEADER_LAYOUT.size && b.readUInt16LE(off + H.kind.offset) === EVENT_KIND.dns) {
      const d = readDns(b, off, end);
      if (d === null) {
        this.stats.undecodable++;
        return;
      }
      this.stats.events.dns++;
      this.#dns(d, out);
      return;
    }
    const e = decodeEvent(b.subarray(off, end));
    if (e === null) {
      this.stats.undecodable++;
      return;
    }
    switch (e.kind) {
      case EVENT_KIND.dns:
        break; // read in place above
      case EVENT_KIND.tlsHello:
        this.stats.events.tlsHello++;
        this.#hello(e);
        break;
      case EVENT_KIND.payload:
        this.stats.events.payload++;
        this.#payload(e, out);
        break;
      case EVENT_KIND.drop:
        // The DNS event of the same packet carries the verdict; this one is only counted.
        this.stats.events.drop++;
        break;
    }
  }

  /** Forgets queries whose responses can no longer match (event time nowUs). */
  expire(nowUs: number): void {
    for (const [k, q] of this.#pending) {
      if (nowUs - q.tsUs < this.#matchWindowUs) break;
      this.#pending.delete(k);
    }
  }

  #dns(e: DnsFields, out: MappedRecord[]): void {
    const parsed = parseDns(e.msg);
    if (typeof parsed === "string") {
      this.stats.dnsErrors[parsed] = (this.stats.dnsErrors[parsed] ?? 0) + 1;
      return;
    }
    if (parsed.error) this.stats.dnsErrors[parsed.error] = (this.stats.dnsErrors[parsed.error] ?? 0) + 1;
    // A response is captured up to 512 bytes: its size is what the packet said, not what was copied.
    const message: DnsMessage = parsed.size === e.msgLen ? parsed : { ...parsed, size: e.msgLen };
    const transport = e.flags & DNS_FLAG.tcp ? "tcp" : "udp";
    const tsUs = this.#o.clock.wallUs(e.tsNs);
    const qname = (message.questions[0]?.name ?? "").toLowerCase();
    const isResponse = (e.flags & DNS_FLAG.response) !== 0;
    let query: Pending | null = null;
    if (!isResponse) {
      const k = `${transport}|${e.saddr}|${e.sport}|${e.daddr}|${e.dport}|${e.id}|${qname}`;
      if (boundedSet(this.#pending, k, { tsUs, size: e.msgLen }, this.#maxPending)) this.stats.pendingEvicted++;
    } else {
      const k = `${transport}|${e.daddr}|${e.dport}|${e.saddr}|${e.sport}|${e.id}|${qname}`;
      const q = this.#pending.get(k);
      if (q && tsUs - q.tsUs <= this.#matchWindowUs) {
        query = q;
        this.#pending.delete(k);
      }
    }
    const obs: DnsObservation = {
      kind: "dns",
      tsUs,
      src: e.saddr,
      srcPort: e.sport,
      dst: e.daddr,
      dstPort: e.dport,
      transport,
      message,
      query,
      vlans: [],
    };
    const rec = dnsEvent(obs, this.#o.node);
    const scored = !isResponse && e.unscored === 0;
    if (scored) {
      rec.value.model_score = e.score;
      rec.value.verdict = verdictOf(e);
      rec.value.model_version = e.modelVersion;
    }
    out.push({ name: "DnsEvent", key: rec.key, value: rec.value });
    if (isResponse || !FEATURES_COMPUTED.has(e.unscored)) return;
    const values = new Array<number>(MAX_IN);
    for (let i = 0; i < MAX_IN; i++) values[i] = e.buf.readInt32LE(e.featuresAt + 4 * i);
    const active: FeatureVector = {
      event_time_us: tsUs,
      node: this.#o.node,
      src_addr: e.saddr,
      feature_spec: e.featureSpec || FEATURE_SPEC,
      values,
      score: scored ? e.score : 0,
      verdict: scored ? verdictOf(e) : "pass",
      model_version: scored ? e.modelVersion : 0,
      slot: "active",
      context: qname,
    };
    out.push({ name: "FeatureVector", key: e.saddr, value: active });
    if (e.flags & DNS_FLAG.shadow) {
      const verdict = e.flags & DNS_FLAG.shadowThreat ? "observe" : "pass";
      out.push({ name: "FeatureVector", key: e.saddr, value: { ...active, score: e.shadowScore, verdict, model_version: e.shadowVersion, slot: "shadow" } });
    }
  }

  #hello(e: TlsHelloEvent): void {
    const t = e.tuple;
    const k = connKey(t.saddr, t.sport, t.daddr, t.dport);
    // A hello split before its SNI comes up again as payload; keep what a previous segment found.
    if (e.flags & TLS_FLAG.sni || !this.#sni.has(k)) this.#rememberSni(k, e.sni);
  }

  #rememberSni(k: string, sni: string | null): void {
    if (boundedSet(this.#sni, k, sni, this.#maxTls)) this.stats.tlsStateEvicted++;
  }

  #payload(e: PayloadEvent, out: MappedRecord[]): void {
    const t = e.tuple;
    if (e.what === PAYLOAD_WHAT.tlsClient) {
      const k = connKey(t.saddr, t.sport, t.daddr, t.dport);
      let c = this.#clients.get(k);
      if (!c) {
        c = { stream: new TcpStream(), tls: new TlsDirection() };
        if (boundedSet(this.#clients, k, c, this.#maxTls)) this.stats.tlsStateEvicted++;
      }
      for (const ev of this.#push(c.stream, c.tls, e)) {
        if (ev.type === "client_hello") {
          this.#rememberSni(k, ev.hello.sni);
          this.#clients.delete(k);
        }
      }
      if (c.tls.failed) this.#clients.delete(k);
      return;
    }
    if (e.what !== PAYLOAD_WHAT.tlsServer) return;
    const k = connKey(t.daddr, t.dport, t.saddr, t.sport);
    // The kernel keeps capturing a few segments after the certificates; a stream restarted there would
    // begin mid-record and read as "not TLS".
    if (this.#serversDone.has(k)) return;
    let s = this.#servers.get(k);
    if (!s) {
      s = { stream: new TcpStream(), tls: new TlsDirection(), serverHello: null };
      if (boundedSet(this.#servers, k, s, this.#maxTls)) this.stats.tlsStateEvicted++;
    }
    for (const ev of this.#push(s.stream, s.tls, e)) {
      if (ev.type === "server_hello") {
        if (!s.serverHello || s.serverHello.helloRetry) s.serverHello = ev.hello;
      } else if (ev.type === "certificate") {
        this.#certificates(e, k, s, ev.chain, out);
        this.#serverDone(k);
        return;
      }
    }
    // Nothing more to learn from this direction: TLS 1.3 (encrypted certificates) or a broken stream.
    if (s.tls.encrypted || s.tls.failed) this.#serverDone(k);
  }

  #serverDone(k: string): void {
    this.#servers.delete(k);
    this.#sni.delete(k);
    boundedSet(this.#serversDone, k, true, this.#maxTls);
  }

  #push(stream: TcpStream, tls: TlsDirection, e: PayloadEvent): ReturnType<TlsDirection["push"]> {
    const before = tls.failed;
    const chunk = stream.push(e.seq, false, e.data);
    if (chunk.gap) tls.gap();
    const events = tls.push(chunk.data);
    const failed = tls.failed;
    if (failed !== null && before === null) this.stats.tlsErrors[failed] = (this.stats.tlsErrors[failed] ?? 0) + 1;
    return events;
  }

  #certificates(e: PayloadEvent, k: string, s: ServerSide, chain: Buffer[], out: MappedRecord[]): void {
    const infos: CertificateInfo[] = [];
    for (const der of chain) {
      const c = parseCertificate(der);
      if (typeof c === "string") this.stats.x509Errors[c] = (this.stats.x509Errors[c] ?? 0) + 1;
      else infos.push(c);
    }
    if (infos.length === 0) return;
    this.stats.certificates += infos.length;
    const t = e.tuple;
    const tsUs = this.#o.clock.wallUs(e.tsNs);
    const sni = this.#sni.get(k) ?? null;
    infos.forEach((cert, i) => {
      const seen: CertSeen = {
        kind: "cert",
        tsUs,
        cert,
        chainPosition: i,
        chainLength: infos.length,
        fromClient: false,
        sni,
        server: t.saddr,
        serverPort: t.sport,
        client: t.daddr,
        tlsVersion: s.serverHello?.selectedVersion ?? 0,
        sctExtension: s.serverHello?.extensions.includes(TLS_SCT_EXTENSION) ?? false,
      };
      const rec = certObservation(seen, this.#o.node);
      out.push({ name: "CertObservation", key: rec.key, value: rec.value });
    });
    this.#o.facts?.record(t.saddr, infos[0]!.notBeforeMs, infos.length);
  }
}
