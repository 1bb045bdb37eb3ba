// Scores DNS queries in user space exactly as the XDP program does (feature_spec v1 and the int8 MLP),
// for pcap mode and for hosts without BPF; emits the FeatureVector records the trainer learns from.
import type { FeatureVector, Verdict } from "../../../lib/src/avro.js";
import { FEATURE, FEATURE_SPEC, featureVector, nameFeatures, nameHash } from "../../../lib/src/model/features.js";
import { ngramRowsFor, score, type QuantModel } from "../../../lib/src/model/int8-mlp.js";
import { factFeatures, SourceState } from "../../../lib/src/model/source-state.js";
import type { DnsObservation } from "./observer.js";

export type EnforcementMode = "observe" | "shadow" | "enforce";

export interface ScorerOptions {
  readonly node: string;
  readonly bigram: Int16Array;
  readonly mode: EnforcementMode;
  /** Bound on per-source state, like the kernel's LRU map: the least recently seen source is dropped. */
  readonly maxSources?: number;
}

export interface ScorerStats {
  scored: number;
  unscoredNoModel: number;
  unscoredBadName: number;
  threats: number;
  sourcesEvicted: number;
}

const DEFAULT_MAX_SOURCES = 65536;
const MAX_LABEL = 63;
const MAX_NAME_WIRE = 255;

/**
 * The wire bytes of a question name as dns.ts presents it (RFC 1035 5.1: `\ddd` for a byte that is not
 * printable ASCII, `\.` and `\\` for a dot or backslash inside a label), which are the bytes the kernel
 * reads; null for a name that is not one (the root, an empty or over-long label, a name over 255 bytes).
 */
function wireOfPresented(name: string): Uint8Array | null {
  const labels: number[][] = [[]];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const label = labels[labels.length - 1]!;
    if (c === 0x2e) labels.push([]);
    else if (c !== 0x5c) label.push(c & 0xff);
    else if (/^\d{3}$/.test(name.slice(i + 1, i + 4))) {
      label.push(Number(name.slice(i + 1, i + 4)) & 0xff);
      i += 3;
    } else label.push(name.charCodeAt(++i) & 0xff);
  }
  if (labels.length > 1 && labels[labels.length - 1]!.length === 0) labels.pop();
  if (labels.some((l) => l.length === 0 || l.length > MAX_LABEL)) return null;
  const wire = labels.flatMap((l) => [l.length, ...l]).concat(0);
  return wire.length > MAX_NAME_WIRE ? null : Uint8Array.from(wire);
}

export class UserspaceScorer {
  readonly stats: ScorerStats = { scored: 0, unscoredNoModel: 0, unscoredBadName: 0, threats: 0, sourcesEvicted: 0 };
  private model: QuantModel | null = null;
  // Map iteration order is insertion order: re-inserting on use makes the first key the least recent.
  private readonly sources = new Map<string, SourceState>();
  private readonly maxSources: number;

  constructor(private readonly o: ScorerOptions) {
    this.maxSources = o.maxSources ?? DEFAULT_MAX_SOURCES;
  }

  setModel(m: QuantModel): void {
    this.model = m;
  }

  get modelVersion(): bigint {
    return this.model?.version ?? 0n;
  }

  private source(addr: string): SourceState {
    let s = this.sources.get(addr);
    if (s) {
      this.sources.delete(addr);
    } else {
      s = new SourceState();
      if (this.sources.size >= this.maxSources) {
        const oldest = this.sources.keys().next().value;
        if (oldest !== undefined) this.sources.delete(oldest);
        this.stats.sourcesEvicted++;
      }
    }
    this.sources.set(addr, s);
    return s;
  }

  /** Updates per-source state; for a query also scores it and returns its feature vector record. */
  observe(o: DnsObservation): FeatureVector | null {
    const m = o.message;
    const nowNs = BigInt(o.tsUs) * 1000n;
    if (m.qr) {
      this.sources.get(o.dst)?.onResponse({ nowNs, qid: m.id, rcode: m.rcode });
      return null;
    }
    const q = m.questions[0];
    const wire = q ? wireOfPresented(q.name) : null;
    const name = wire ? nameFeatures(wire, this.o.bigram) : null;
    const hash = wire ? nameHash(wire) : null;
    if (!q || !wire || !name || hash === null) {
      this.stats.unscoredBadName++;
      return null;
    }
    const src = this.source(o.src);
    src.onQuery({ nowNs, hash, qtype: q.type, dnsLen: m.size, subLen: name[FEATURE.SUB_LEN]!, qid: m.id });
    const values = featureVector(name, { qtype: q.type, dnsLen: m.size }, src.features(), factFeatures(null));
    const model = this.model;
    let s = 0;
    let verdict: Verdict = "pass";
    if (model === null || model.featureSpec !== FEATURE_SPEC) {
      this.stats.unscoredNoModel++;
    } else {
      this.stats.scored++;
      s = score(model, values, ngramRowsFor(model, wire));
      if (s >= model.threshold) {
        this.stats.threats++;
        verdict = this.o.mode === "enforce" ? "drop" : "observe";
      }
    }
    return {
      event_time_us: o.tsUs,
      node: this.o.node,
      src_addr: o.src,
      feature_spec: FEATURE_SPEC,
      values: Array.from(values),
      score: s,
      verdict,
      model_version: Number(this.modelVersion),
      slot: "active",
      context: q.name.toLowerCase(),
    };
  }
}
