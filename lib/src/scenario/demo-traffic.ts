// Generates the demo's synthetic DNS traffic: a steady benign background from real top-site names, and a
// burst of real DGA names answered NXDOMAIN, so windows have a baseline and the detectors something to find.
import { readFileSync } from "node:fs";
import { dnsPacket } from "./packet-builder.js";
import type { TimedPacket } from "./pcap-writer.js";

export interface DemoTrafficOptions {
  /** Scenario start, microseconds since the epoch. */
  readonly startUs: number;
  readonly durationS: number;
  /** Benign queries per second across all clients. */
  readonly queriesPerSecond: number;
  /** CSV with a `domain` column (the shared benign list). */
  readonly benignCsv: string;
  /** CSV with `domain,family` columns (the shared DGA list); the burst takes names from it. */
  readonly dgaCsv: string;
  /** Second (from start) at which one infected client starts resolving DGA names. */
  readonly dgaBurstAtS: number;
  readonly dgaBurstQueries: number;
  readonly seed?: number;
}

const RESOLVER = "198.18.0.2";
const CLIENTS = 20;
const INFECTED_CLIENT = "198.18.0.66";
const BENIGN_NAMES = 300;

/** Mulberry32: a small deterministic PRNG so the same options give the same capture. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function firstColumn(csv: string, limit: number, filter: (cols: string[]) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const line of readFileSync(csv, "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(",");
    if (cols[0] && filter(cols)) out.push(cols[0]);
    if (out.length >= limit) break;
  }
  if (out.length === 0) throw new Error(`no domains read from ${csv}`);
  return out;
}

function* queryAndResponse(rand: () => number, tsUs: number, client: string, qname: string, nx: boolean): Generator<TimedPacket> {
  const id = Math.floor(rand() * 65536);
  const srcPort = 1024 + Math.floor(rand() * 60000);
  yield { tsUs, data: dnsPacket({ src: client, dst: RESOLVER, srcPort, dstPort: 53, id, qname, qtype: 1 }) };
  const rttUs = 2000 + Math.floor(rand() * 30000);
  const answer = `198.19.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`;
  yield {
    tsUs: tsUs + rttUs,
    data: dnsPacket({
      src: RESOLVER, dst: client, srcPort: 53, dstPort: srcPort, id, qname, qtype: 1,
      response: nx ? { rcode: 3, answers: [], ttl: 0 } : { rcode: 0, answers: [answer], ttl: 300 },
    }),
  };
}

/** The packets of the scenario in timestamp order. */
export function demoTraffic(o: DemoTrafficOptions): TimedPacket[] {
  const rand = prng(o.seed ?? 1);
  const benign = firstColumn(o.benignCsv, BENIGN_NAMES);
  // Skip the six generated families: the burst should look like what sensors observe in the wild.
  const generated = new Set(["tinba", "cryptolocker", "ramdo", "conficker", "rovnix", "pushdo"]);
  const dga = firstColumn(o.dgaCsv, o.dgaBurstQueries, (c) => !generated.has(c[1] ?? ""));
  const packets: TimedPacket[] = [];
  const total = Math.round(o.durationS * o.queriesPerSecond);
  for (let i = 0; i < total; i++) {
    const tsUs = o.startUs + Math.floor(rand() * o.durationS * 1e6);
    // Zipf-like popularity: a few names take most of the queries, as on real resolvers.
    const name = benign[Math.floor(benign.length * rand() ** 3)] ?? benign[0]!;
    const client = `198.18.0.${10 + Math.floor(rand() * CLIENTS)}`;
    packets.push(...queryAndResponse(rand, tsUs, client, name, false));
  }
  const burstStart = o.startUs + o.dgaBurstAtS * 1e6;
  dga.forEach((name, i) => {
    packets.push(...queryAndResponse(rand, burstStart + i * 5000, INFECTED_CLIENT, name, true));
  });
  return packets.sort((a, b) => a.tsUs - b.tsUs);
}
