// Turns decoded packets into observations: DNS messages (UDP and TCP, queries matched to responses), TLS
// handshakes and their certificates, and flows from the flow table. Every fault is counted by kind; the
// per-packet path never throws.
import { decodePacket, newDecodeStats, TCP_FLAG, type DecodedPacket, type DecodeStats } from "./packet.js";
import { parseDns, type DnsErrorKind, type DnsMessage } from "./dns.js";
import { FlowTable, type Flow, type FlowExport, type FlowTableOptions } from "./flow-table.js";
import { ByteQueue, TcpStream } from "./tcp-stream.js";
import { looksLikeTlsHandshake, TlsDirection, type ClientHello, type ServerHello, type TlsErrorKind } from "./tls.js";
import { parseCertificate, type CertificateInfo, type X509ErrorKind } from "./x509.js";
import type { CapturedPacket } from "./pcap.js";

export interface DnsObservation {
  readonly kind: "dns";
  readonly tsUs: number;
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
  readonly transport: "udp" | "tcp";
  readonly message: DnsMessage;
  /** For a response: its query's time and size when the query was seen. */
  readonly query: { readonly tsUs: number; readonly size: number } | null;
  readonly vlans: number[];
}

export interface TlsSession {
  readonly kind: "tls";
  readonly tsUs: number;
  readonly client: string;
  readonly clientPort: number;
  readonly server: string;
  readonly serverPort: number;
  readonly clientHello: ClientHello | null;
  readonly serverHello: ServerHello | null;
  readonly serverChain: CertificateInfo[];
  readonly clientChain: CertificateInfo[];
  /** Key exchange group from ServerKeyExchange (TLS <= 1.2) or key_share (TLS 1.3). */
  readonly group: number | null;
  readonly alerts: { readonly fromServer: boolean; readonly level: number; readonly description: number }[];
  /** Both sides switched to encrypted records (the handshake finished as far as a passive observer can tell). */
  readonly established: boolean;
}

export interface CertSeen {
  readonly kind: "cert";
  readonly tsUs: number;
  readonly cert: CertificateInfo;
  readonly chainPosition: number;
  readonly chainLength: number;
  /** True for a certificate the client presented (mutual TLS). */
  readonly fromClient: boolean;
  readonly sni: string | null;
  readonly server: string;
  readonly serverPort: number;
  readonly client: string;
  readonly tlsVersion: number;
  /** The ServerHello carried the signed_certificate_timestamp extension. */
  readonly sctExtension: boolean;
}

export interface FlowSeen {
  readonly kind: "flow";
  readonly flow: FlowExport;
}

export type Observation = DnsObservation | TlsSession | CertSeen | FlowSeen;

export interface ObserverStats {
  packets: number;
  decode: DecodeStats;
  dns: { messages: number; errors: Partial<Record<DnsErrorKind | "fragmented" | "tcp_message_too_long", number>> };
  tls: { sessions: number; errors: Partial<Record<TlsErrorKind, number>> };
  x509: { certificates: number; errors: Partial<Record<X509ErrorKind, number>> };
  /** Exceptions caught at the per-packet boundary: each one is a bug to fix, the packet is skipped. */
  internalErrors: number;
  lastInternalError: string | null;
}

export interface ObserverOptions extends Partial<FlowTableOptions> {
  /** UDP/TCP ports whose payload is parsed as DNS (53 DNS, 5353 mDNS, 5355 LLMNR by default). */
  dnsPorts?: readonly number[];
  /** How long a query waits for its response, in microseconds. */
  dnsMatchWindowUs?: number;
  /** Bound on unanswered queries held for matching. */
  maxPendingQueries?: number;
}

// STARTTLS and similar upgrades put the handshake after some plaintext; look this many packets in.
const TLS_SEARCH_PACKETS = 64;
// RFC 1035 4.2.2: the TCP length prefix is 16 bits.
const MAX_DNS_TCP = 65535 + 2;
const TLS_SCT_EXTENSION = 18;

interface Direction {
  stream: TcpStream | null;
  dns: ByteQueue | null;
  tls: TlsDirection | null;
}

interface TlsState {
  tsUs: number;
  /** Whether the flow's initiator is the TLS client; null until a hello says. */
  clientForward: boolean | null;
  clientHello: ClientHello | null;
  serverHello: ServerHello | null;
  serverChain: CertificateInfo[];
  clientChain: CertificateInfo[];
  group: number | null;
  alerts: { fromServer: boolean; level: number; description: number }[];
}

interface AppState {
  dirs: [Direction, Direction];
  tls: TlsState | null;
}

export class Observer {
  readonly stats: ObserverStats = {
    packets: 0,
    decode: newDecodeStats(),
    dns: { messages: 0, errors: {} },
    tls: { sessions: 0, errors: {} },
    x509: { certificates: 0, errors: {} },
    internalErrors: 0,
    lastInternalError: null,
  };
  private readonly flows: FlowTable;
  private readonly apps = new Map<number, AppState>();
  private readonly pending = new Map<string, { tsUs: number; size: number }>();
  private readonly dnsPorts: Set<number>;
  private readonly matchWindowUs: number;
  private readonly maxPending: number;
  private lastExpireUs = 0;

  constructor(
    private readonly emit: (o: Observation) => void,
    opts: ObserverOptions = {},
  ) {
    this.flows = new FlowTable((f) => this.flowEnded(f), opts);
    this.dnsPorts = new Set(opts.dnsPorts ?? [53, 5353, 5355]);
    this.matchWindowUs = opts.dnsMatchWindowUs ?? 30_000_000;
    this.maxPending = opts.maxPendingQueries ?? 100_000;
  }

  /** Decodes and observes one captured frame. */
  capture(c: CapturedPacket): void {
    this.stats.packets++;
    try {
      const p = decodePacket(c.linkType, c.data, c.tsUs, c.origLen, this.stats.decode);
      if (typeof p !== "string") this.observe(p);
    } catch (e) {
      this.internal(e);
    }
  }

  /** Observes an already decoded packet (the kernel path hands these up). */
  packet(p: DecodedPacket): void {
    try {
      this.observe(p);
    } catch (e) {
      this.internal(e);
    }
  }

  /** End of input: every live flow and pending state is exported. */
  flush(): void {
    this.flows.flush();
    this.pending.clear();
  }

  /** Event time moved on without packets (live capture idle): export what timed out. */
  advance(nowUs: number): void {
    this.flows.expire(nowUs);
    this.expirePending(nowUs);
    this.lastExpireUs = nowUs;
  }

  get liveFlows(): number {
    return this.flows.size;
  }

  private internal(e: unknown): void {
    this.stats.internalErrors++;
    this.stats.lastInternalError = e instanceof Error ? (e.stack ?? e.message) : String(e);
  }

  private observe(p: DecodedPacket): void {
    // Timeouts are checked once per second of event time, not per packet.
    if (p.tsUs - this.lastExpireUs >= 1_000_000 || p.tsUs < this.lastExpireUs) this.advance(p.tsUs);
    const hit = this.flows.add(p);
    if (p.laterFragment) {
      this.stats.decode.skipped.ip_fragment++;
      return;
    }
    if (p.proto === 17) {
      if (this.dnsPorts.has(p.srcPort) || this.dnsPorts.has(p.dstPort)) {
        if (p.firstFragment) this.dnsError("fragmented");
        else this.dnsMessage(p, p.payload, "udp");
      }
    } else if (p.proto === 6 && p.tcp) {
      this.tcp(p, hit.flow, hit.forward);
    }
  }

  private dnsError(kind: DnsErrorKind | "fragmented" | "tcp_message_too_long"): void {
    this.stats.dns.errors[kind] = (this.stats.dns.errors[kind] ?? 0) + 1;
  }

  private dnsMessage(p: DecodedPacket, payload: Buffer, transport: "udp" | "tcp"): void {
    const m = parseDns(payload);
    if (typeof m === "string") {
      this.dnsError(m);
      return;
    }
    if (m.error) this.dnsError(m.error);
    this.stats.dns.messages++;
    const qname = (m.questions[0]?.name ?? "").toLowerCase();
    let query: DnsObservation["query"] = null;
    if (!m.qr) {
      const key = `${transport}|${p.src}|${p.srcPort}|${p.dst}|${p.dstPort}|${m.id}|${qname}`;
      if (this.pending.size >= this.maxPending) {
        const oldest = this.pending.keys().next().value as string;
        this.pending.delete(oldest);
      }
      this.pending.set(key, { tsUs: p.tsUs, size: payload.length });
    } else {
      const key = `${transport}|${p.dst}|${p.dstPort}|${p.src}|${p.srcPort}|${m.id}|${qname}`;
      const q = this.pending.get(key);
      if (q && p.tsUs - q.tsUs <= this.matchWindowUs) {
        query = q;
        this.pending.delete(key);
      }
    }
    this.emit({ kind: "dns", tsUs: p.tsUs, src: p.src, srcPort: p.srcPort, dst: p.dst, dstPort: p.dstPort, transport, message: m, query, vlans: p.vlans });
  }

  private expirePending(nowUs: number): void {
    for (const [k, q] of this.pending) {
      if (nowUs - q.tsUs < this.matchWindowUs) break;
      this.pending.delete(k);
    }
  }

  private tcp(p: DecodedPacket, flow: Flow, forward: boolean): void {
    const tcp = p.tcp!;
    const isDns = this.dnsPorts.has(p.srcPort) || this.dnsPorts.has(p.dstPort);
    let a = this.apps.get(flow.id);
    if (!a) {
      // Only flows that may carry DNS or TLS get reassembly state; STARTTLS-style upgrades put the
      // handshake after some plaintext, so TLS is looked for in the first packets of every flow.
      const tlsStart =
        p.payload.length > 0 && flow.fwd.packets + flow.rev.packets <= TLS_SEARCH_PACKETS && looksLikeTlsHandshake(p.payload);
      if (!isDns && !tlsStart) return;
      a = { dirs: [{ stream: null, dns: null, tls: null }, { stream: null, dns: null, tls: null }], tls: null };
      this.apps.set(flow.id, a);
    }
    const d = a.dirs[forward ? 0 : 1];
    const syn = (tcp.flags & TCP_FLAG.SYN) !== 0;
    if (isDns) {
      this.dnsTcp(p, d, syn);
      return;
    }
    if (!d.tls) {
      if (p.payload.length === 0 || flow.fwd.packets + flow.rev.packets > TLS_SEARCH_PACKETS || !looksLikeTlsHandshake(p.payload)) return;
      d.tls = new TlsDirection();
      // The stream starts at this segment: bytes before it were plaintext (or not seen).
      d.stream = new TcpStream();
    }
    if (d.tls.encrypted || d.tls.failed) return;
    const chunk = d.stream!.push(tcp.seq, syn, p.payload);
    if (chunk.gap) d.tls.gap();
    const events = d.tls.push(chunk.data);
    const failed = d.tls.failed as TlsErrorKind | null;
    if (failed) this.stats.tls.errors[failed] = (this.stats.tls.errors[failed] ?? 0) + 1;
    if (events.length === 0) return;
    a.tls ??= { tsUs: p.tsUs, clientForward: null, clientHello: null, serverHello: null, serverChain: [], clientChain: [], group: null, alerts: [] };
    const s = a.tls;
    for (const ev of events) {
      switch (ev.type) {
        case "client_hello":
          if (!s.clientHello) {
            s.clientHello = ev.hello;
            s.clientForward = forward;
          }
          break;
        case "server_hello":
          // After a HelloRetryRequest the second ServerHello is the one that counts.
          if (!s.serverHello || s.serverHello.helloRetry) s.serverHello = ev.hello;
          s.clientForward ??= !forward;
          if (ev.hello.keyShareGroup !== null) s.group = ev.hello.keyShareGroup;
          break;
        case "key_exchange_curve":
          s.group = ev.group;
          break;
        case "alert":
          s.alerts.push({ fromServer: forward !== (s.clientForward ?? true), level: ev.level, description: ev.description });
          break;
        case "certificate":
          this.certificates(p, forward, s, ev.chain);
          break;
        default:
          break;
      }
    }
  }

  private dnsTcp(p: DecodedPacket, d: Direction, syn: boolean): void {
    d.stream ??= new TcpStream();
    d.dns ??= new ByteQueue(MAX_DNS_TCP);
    const chunk = d.stream.push(p.tcp!.seq, syn, p.payload);
    if (chunk.gap) d.dns.clear();
    if (chunk.data.length === 0) return;
    if (!d.dns.append(chunk.data)) {
      this.dnsError("tcp_message_too_long");
      return;
    }
    for (;;) {
      const b = d.dns.peek();
      if (b.length < 2) break;
      const len = b.readUInt16BE(0);
      if (b.length < 2 + len) break;
      const msg = Buffer.from(b.subarray(2, 2 + len));
      d.dns.consume(2 + len);
      this.dnsMessage(p, msg, "tcp");
    }
  }

  private certificates(p: DecodedPacket, forward: boolean, s: TlsState, chain: Buffer[]): void {
    const fromClient = forward === (s.clientForward ?? true);
    const infos: CertificateInfo[] = [];
    for (const der of chain) {
      const c = parseCertificate(der);
      if (typeof c === "string") {
        this.stats.x509.errors[c] = (this.stats.x509.errors[c] ?? 0) + 1;
        continue;
      }
      this.stats.x509.certificates++;
      infos.push(c);
    }
    if (fromClient) s.clientChain.push(...infos);
    else s.serverChain.push(...infos);
    infos.forEach((cert, i) =>
      this.emit({
        kind: "cert",
        tsUs: p.tsUs,
        cert,
        chainPosition: i,
        chainLength: infos.length,
        fromClient,
        sni: s.clientHello?.sni ?? null,
        server: fromClient ? p.dst : p.src,
        serverPort: fromClient ? p.dstPort : p.srcPort,
        client: fromClient ? p.src : p.dst,
        tlsVersion: s.serverHello?.selectedVersion ?? s.clientHello?.version ?? 0,
        sctExtension: s.serverHello?.extensions.includes(TLS_SCT_EXTENSION) ?? false,
      }),
    );
  }

  private flowEnded(f: FlowExport): void {
    const a = this.apps.get(f.id);
    if (a) {
      this.apps.delete(f.id);
      const s = a.tls;
      if (s) {
        this.stats.tls.sessions++;
        const clientForward = s.clientForward ?? true;
        const [c, sv] = clientForward ? [a.dirs[0], a.dirs[1]] : [a.dirs[1], a.dirs[0]];
        this.emit({
          kind: "tls",
          tsUs: s.tsUs,
          client: clientForward ? f.initiator : f.responder,
          clientPort: clientForward ? f.initiatorPort : f.responderPort,
          server: clientForward ? f.responder : f.initiator,
          serverPort: clientForward ? f.responderPort : f.initiatorPort,
          clientHello: s.clientHello,
          serverHello: s.serverHello,
          serverChain: s.serverChain,
          clientChain: s.clientChain,
          group: s.group,
          alerts: s.alerts,
          established: (c.tls?.encrypted ?? false) && (sv.tls?.encrypted ?? false),
        });
      }
    }
    this.emit({ kind: "flow", flow: f });
  }
}
