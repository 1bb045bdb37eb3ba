// Shared pieces of the conformance check: what one capture produced through the collector's parsers (the
// records we emit plus the parsed detail they came from) and the tally of compared and matched fields.
import { CaptureDecoder, readCapture } from "./pcap.js";
import { Observer, type CertSeen, type DnsObservation, type ObserverOptions, type TlsSession } from "./observer.js";
import { certObservation, dnsEvent, flowRecord } from "./records.js";
import type { CertObservation, DnsEvent, FlowRecord } from "../../../lib/src/avro.js";
import type { FlowExport } from "./flow-table.js";

export interface CaseOutput {
  readonly packets: number;
  readonly dns: { readonly obs: DnsObservation; readonly rec: DnsEvent }[];
  readonly flows: { readonly flow: FlowExport; readonly rec: FlowRecord }[];
  readonly certs: { readonly obs: CertSeen; readonly rec: CertObservation }[];
  readonly tls: TlsSession[];
  readonly observer: Observer;
  /** 1-based packet number -> parse faults counted while that packet was handled. */
  readonly faultsByPacket: Map<number, string[]>;
  /** 1-based packet number -> DNS messages it carried (or completed, over TCP). */
  readonly dnsByPacket: Map<number, DnsObservation[]>;
}

const NODE = "conformance";

/** Runs a capture through the same parsers the collector uses and keeps every record it would publish. */
export async function runCapture(path: string, opts: ObserverOptions = {}): Promise<CaseOutput> {
  const out: CaseOutput = {
    packets: 0,
    dns: [],
    flows: [],
    certs: [],
    tls: [],
    observer: undefined as unknown as Observer,
    faultsByPacket: new Map(),
    dnsByPacket: new Map(),
  };
  let n = 0;
  const observer = new Observer((o) => {
    if (o.kind === "dns") {
      out.dns.push({ obs: o, rec: dnsEvent(o, NODE).value });
      out.dnsByPacket.set(n, [...(out.dnsByPacket.get(n) ?? []), o]);
    }
    else if (o.kind === "flow") out.flows.push({ flow: o.flow, rec: flowRecord(o.flow, NODE).value });
    else if (o.kind === "cert") out.certs.push({ obs: o, rec: certObservation(o, NODE).value });
    else out.tls.push(o);
  }, opts);
  (out as { observer: Observer }).observer = observer;
  const decoder = new CaptureDecoder();
  for await (const p of readCapture(path, decoder)) {
    n++;
    const before = faultCount(observer);
    observer.capture(p);
    if (faultCount(observer) !== before) out.faultsByPacket.set(n, faultKinds(observer));
  }
  observer.flush();
  (out as { packets: number }).packets = n;
  return out;
}

function faultCount(o: Observer): number {
  let n = o.stats.internalErrors;
  for (const v of Object.values(o.stats.decode.errors)) n += v;
  for (const v of Object.values(o.stats.dns.errors)) n += v ?? 0;
  return n;
}

function faultKinds(o: Observer): string[] {
  const kinds: string[] = [];
  for (const [k, v] of Object.entries(o.stats.decode.errors)) if (v > 0) kinds.push(k);
  for (const [k, v] of Object.entries(o.stats.dns.errors)) if (v) kinds.push(`dns_${k}`);
  return kinds;
}

export interface Mismatch {
  readonly case: string;
  readonly file: string;
  readonly field: string;
  readonly expected: unknown;
  readonly got: unknown;
}

export interface KnownDifference {
  readonly case: string;
  readonly file: string;
  readonly field: string;
  readonly reason: string;
}

/** Counts compared and matched fields for one suite. */
export class Tally {
  compared = 0;
  matched = 0;
  readonly mismatches: Mismatch[] = [];
  readonly known: KnownDifference[] = [];

  constructor(
    public caseName = "",
    public file = "",
  ) {}

  /** Compares one field; `got` undefined means we produced nothing to compare with (a mismatch). */
  field(field: string, expected: unknown, got: unknown, eq: (a: unknown, b: unknown) => boolean = sameValue): boolean {
    this.compared++;
    if (got !== undefined && eq(expected, got)) {
      this.matched++;
      return true;
    }
    this.mismatches.push({ case: this.caseName, file: this.file, field, expected, got: got ?? null });
    return false;
  }

  /** A field where we follow the RFC and the peer does not: reported, not counted. */
  knownDifference(field: string, reason: string): void {
    this.known.push({ case: this.caseName, file: this.file, field, reason });
  }
}

/** Loose equality for values read from text formats: numbers compare numerically, strings exactly. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "number" || typeof b === "number") return Number(a) === Number(b);
  if (typeof a === "boolean" || typeof b === "boolean") return String(a) === String(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}

export function sameName(a: unknown, b: unknown): boolean {
  // RFC 4343: DNS names compare case-insensitively; a trailing dot is presentation, not content.
  const norm = (x: unknown): string => String(x).toLowerCase().replace(/\.$/, "");
  return norm(a) === norm(b);
}

export function near(tolerance: number): (a: unknown, b: unknown) => boolean {
  return (a, b) => Math.abs(Number(a) - Number(b)) <= tolerance;
}

/** Unordered endpoint pair + protocol: how peers' connection rows are joined to our flows. */
export function tupleKey(proto: number | string, a: string, ap: number | string, b: string, bp: number | string): string {
  const x = `${a}|${ap}`;
  const y = `${b}|${bp}`;
  return x < y ? `${proto}|${x}|${y}` : `${proto}|${y}|${x}`;
}

export function protoNumber(p: string): number {
  const m: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmp6: 58, sctp: 132 };
  return m[p.toLowerCase()] ?? Number(p);
}
