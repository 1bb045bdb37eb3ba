// Algorithmically generated domains: registered domains whose query names the query-name model flags as
// DGA-like, one detection per domain and hour, stronger when the names do not resolve (a bot walking its
// generated list) or several hosts ask.
import type { Anomaly, DnsEvent } from "../../../lib/src/avro.js";
import { clamp01, evidence, toAnomaly } from "./anomaly.js";
import { domainOf } from "./dns-tunnel-domains.js";
import { KeyedWindows, type WindowSlot } from "./event-windows.js";
import type { NameScorer, NameVerdict } from "./query-name-scorer.js";

const NXDOMAIN = 3;

export interface DgaDomainOptions {
  readonly windowMs?: number;
  readonly latenessMs?: number;
  readonly maxDomains?: number;
}

interface DgaState {
  queries: number;
  flagged: number;
  nx: number;
  best: NameVerdict | null;
  sample: string;
  readonly sources: Set<string>;
  fired: boolean;
}

export class DgaDomainDetector {
  private readonly windows: KeyedWindows<DgaState>;

  constructor(
    private readonly score: NameScorer,
    o: DgaDomainOptions = {},
  ) {
    this.windows = new KeyedWindows({
      windowMs: o.windowMs ?? 3_600_000,
      latenessMs: o.latenessMs ?? 5000,
      maxKeys: o.maxDomains ?? 100_000,
      create: () => ({ queries: 0, flagged: 0, nx: 0, best: null, sample: "", sources: new Set(), fired: false }),
    });
  }

  observe(ev: DnsEvent, out: Anomaly[]): void {
    const domain = domainOf(ev);
    if (domain === "") return;
    const t = ev.event_time_us / 1000;
    const w = this.windows.slot(domain, t, () => undefined);
    this.windows.close(() => undefined);
    if (w === null) return;
    const s = w.state;
    if (ev.is_response) {
      if (ev.rcode === NXDOMAIN) s.nx++;
      if (ev.query_size !== null) return;
    }
    const v = this.score(ev.qname);
    s.queries++;
    if (s.sources.size < 64) s.sources.add(ev.is_response ? ev.dst_addr : ev.src_addr);
    if (v === null || !v.threat || v.kind !== "dga") return;
    s.flagged++;
    if (s.best === null || v.probability > s.best.probability) {
      s.best = v;
      s.sample = ev.qname;
    }
    if (!s.fired) this.fire(w, t, out);
  }

  advance(tMs: number): void {
    this.windows.advanceTo(tMs);
    this.windows.close(() => undefined);
  }

  private fire(w: WindowSlot<DgaState>, atMs: number, out: Anomaly[]): void {
    const s = w.state;
    const v = s.best!;
    s.fired = true;
    // Severity: how far past the model's threshold, plus the behaviour that goes with a DGA.
    const margin = clamp01((v.probability - v.thresholdProbability) / Math.max(1e-6, 1 - v.thresholdProbability));
    const score = clamp01(0.45 + 0.3 * margin + (s.nx > 0 ? 0.15 : 0) + (s.sources.size > 1 ? 0.1 : 0));
    out.push(
      toAnomaly({
        detector: "dns.dga",
        entityType: "registered_domain",
        entity: w.key,
        windowStartMs: w.start,
        windowEndMs: w.end,
        score,
        confidence: v.probability,
        detectedAtMs: Math.min(w.end, Math.max(w.start, Math.floor(atMs))),
        modelVersion: v.modelVersion,
        evidence: [
          evidence("model_probability", v.probability, "probability", s.sample),
          evidence("model_score", v.int8, "int32", `threshold ${v.threshold}`),
          evidence("flagged_queries", s.flagged, "queries"),
          evidence("queries", s.queries, "queries"),
          evidence("nxdomain_answers", s.nx, "responses"),
          evidence("sources", s.sources.size, "hosts", [...s.sources].slice(0, 5).join(" ")),
        ],
        recommendation: `${w.key} looks algorithmically generated (model probability ${v.probability.toFixed(3)}${s.nx > 0 ? ", and it does not resolve" : ""}): the asking hosts (${[...s.sources].slice(0, 3).join(", ")}) may run malware looking for its command server; sinkhole or block ${w.key} at the resolver and check those hosts.`,
      }),
    );
  }
}
