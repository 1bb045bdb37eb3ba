// Fills the kernel's stoq_servers map (feature_spec v1 features 26..28) from certificates seen in user
// space: per server address, the age in hours of the leaf certificate it last presented and its chain
// length. Ages grow with time, so known entries are rewritten when their hour changes.
import type { BpfMap } from "./bpf.js";
import { encodeServerFacts, encodeServerKey } from "./kernel-layout.js";

const HOUR_MS = 3_600_000;
const U32_MAX = 0xffffffff;

interface Fact {
  readonly key: Buffer;
  readonly notBeforeMs: number;
  readonly chainLen: number;
  writtenAgeHours: number;
}

export interface ServerFactsStats {
  written: number;
  evicted: number;
  failed: number;
}

export function certAgeHours(notBeforeMs: number, nowMs: number): number {
  return Math.min(U32_MAX, Math.max(0, Math.floor((nowMs - notBeforeMs) / HOUR_MS)));
}

export class ServerFacts {
  readonly stats: ServerFactsStats = { written: 0, evicted: 0, failed: 0 };
  // Insertion order = least recently presented first; bounded by the kernel map's size, which is a plain
  // hash (updates past max_entries fail), so the oldest server is removed from both before that happens.
  readonly #facts = new Map<string, Fact>();
  readonly #map: BpfMap;
  readonly #max: number;

  constructor(map: BpfMap) {
    this.#map = map;
    this.#max = map.maxEntries;
  }

  get size(): number {
    return this.#facts.size;
  }

  /** The server presented a chain whose leaf became valid at notBeforeMs. */
  record(server: string, notBeforeMs: number, chainLen: number, nowMs = Date.now()): void {
    const known = this.#facts.get(server);
    if (known) {
      this.#facts.delete(server);
    } else if (this.#facts.size >= this.#max) {
      const [oldest, f] = this.#facts.entries().next().value as [string, Fact];
      this.#facts.delete(oldest);
      this.#map.delete(f.key);
      this.stats.evicted++;
    }
    const fact: Fact = { key: known?.key ?? encodeServerKey(server), notBeforeMs, chainLen: Math.min(chainLen, U32_MAX), writtenAgeHours: -1 };
    this.#facts.set(server, fact);
    if (!known || known.notBeforeMs !== notBeforeMs || known.chainLen !== fact.chainLen) this.#write(fact, nowMs);
    else fact.writtenAgeHours = known.writtenAgeHours;
  }

  /** Rewrites the entries whose age in whole hours changed since they were written. */
  refresh(nowMs = Date.now()): void {
    for (const f of this.#facts.values()) if (certAgeHours(f.notBeforeMs, nowMs) !== f.writtenAgeHours) this.#write(f, nowMs);
  }

  #write(f: Fact, nowMs: number): void {
    const age = certAgeHours(f.notBeforeMs, nowMs);
    try {
      this.#map.update(f.key, encodeServerFacts({ certAgeHours: age, chainLen: f.chainLen }));
      f.writtenAgeHours = age;
      this.stats.written++;
    } catch {
      // A failed write leaves the kernel without the fact (features read 0): counted, retried on refresh.
      this.stats.failed++;
    }
  }
}
