// NXDOMAIN storms per client: a host whose answers are mostly "no such domain" for many different names,
// as a DGA-infected host searching for its command server produces, judged against the host's own past.
import type { Anomaly, DnsEvent } from "../../../lib/src/avro.js";
import { clamp01, evidence, toAnomaly } from "./anomaly.js";
import { countVarianceFloor, EwmaBaseline } from "./ewma.js";
import { KeyedWindows, type WindowSlot } from "./event-windows.js";

const NXDOMAIN = 3;

export interface NxStormOptions {
  readonly windowMs?: number;
  readonly latenessMs?: number;
  readonly maxSources?: number;
  /** NXDOMAIN answers a window needs (default 30). */
  readonly minNx?: number;
  /** Share of the host's answers that must be NXDOMAIN (default 0.5). */
  readonly minShare?: number;
  /** z-score over the host's own NXDOMAIN baseline, once it has one (config anomaly_threshold). */
  readonly threshold?: number;
  readonly learningRate?: number;
  readonly warmupWindows?: number;
}

interface NxState {
  responses: number;
  nx: number;
  readonly names: Set<string>;
  readonly domains: Set<string>;
  fired: boolean;
}

const MAX_NAMES = 1024;

export class NxdomainStormDetector {
  private readonly windows: KeyedWindows<NxState>;
  private readonly baselines = new Map<string, EwmaBaseline>();
  private readonly minNx: number;
  private readonly minShare: number;

  constructor(private readonly o: NxStormOptions = {}) {
    this.windows = new KeyedWindows({
      windowMs: o.windowMs ?? 60_000,
      latenessMs: o.latenessMs ?? 5000,
      maxKeys: o.maxSources ?? 100_000,
      create: () => ({ responses: 0, nx: 0, names: new Set(), domains: new Set(), fired: false }),
    });
    this.minNx = o.minNx ?? 30;
    this.minShare = o.minShare ?? 0.5;
  }

  observe(ev: DnsEvent, out: Anomaly[]): void {
    if (!ev.is_response) return;
    const t = ev.event_time_us / 1000;
    const w = this.windows.slot(ev.dst_addr, t, (c) => this.closed(c, out));
    this.windows.close((c) => this.closed(c, out));
    if (w === null) return;
    const s = w.state;
    s.responses++;
    if (ev.rcode !== NXDOMAIN) return;
    s.nx++;
    if (s.names.size < MAX_NAMES) s.names.add(ev.qname);
    if (s.domains.size < MAX_NAMES) s.domains.add(ev.registered_domain);
    if (!s.fired) this.check(w, t, out);
  }

  advance(tMs: number, out: Anomaly[]): void {
    this.windows.advanceTo(tMs);
    this.windows.close((c) => this.closed(c, out));
  }

  flush(out: Anomaly[]): void {
    this.windows.close((c) => this.closed(c, out), true);
  }

  private closed(w: WindowSlot<NxState>, out: Anomaly[]): void {
    if (!w.state.fired) this.check(w, w.end, out);
    let b = this.baselines.get(w.key);
    if (b === undefined) {
      b = new EwmaBaseline(this.o.learningRate ?? 0.01);
      if (this.baselines.size >= (this.o.maxSources ?? 100_000)) this.baselines.delete(this.baselines.keys().next().value!);
    } else this.baselines.delete(w.key);
    this.baselines.set(w.key, b);
    b.update(w.state.nx);
  }

  private check(w: WindowSlot<NxState>, atMs: number, out: Anomaly[]): void {
    const s = w.state;
    const share = s.nx / Math.max(1, s.responses);
    if (s.nx < this.minNx || share < this.minShare) return;
    const b = this.baselines.get(w.key);
    const warm = b !== undefined && b.n >= (this.o.warmupWindows ?? 30);
    const z = warm ? b.deviation(s.nx, countVarianceFloor(b.mean)).z : null;
    if (z !== null && z < (this.o.threshold ?? 3)) return;
    s.fired = true;
    const diversity = s.names.size / Math.max(1, Math.min(s.nx, MAX_NAMES));
    const score = clamp01(0.35 + 0.25 * Math.log10(s.nx / this.minNx) + 0.25 * ((share - this.minShare) / (1 - this.minShare)) + 0.2 * diversity);
    const samples = [...s.names].slice(0, 5).join(" ");
    out.push(
      toAnomaly({
        detector: "dns.nxdomain_storm",
        entityType: "source",
        entity: w.key,
        windowStartMs: w.start,
        windowEndMs: w.end,
        score,
        zScore: z,
        confidence: clamp01(share) * clamp01(Math.log10(s.nx) / 2.5),
        detectedAtMs: Math.min(w.end, Math.max(w.start, Math.floor(atMs))),
        evidence: [
          evidence("nxdomain_responses", s.nx, "responses"),
          evidence("responses", s.responses, "responses"),
          evidence("nxdomain_share", share, "fraction"),
          evidence("distinct_nx_names", s.names.size, "names", samples),
          evidence("distinct_nx_domains", s.domains.size, "domains"),
          evidence("nxdomain_rate", s.nx / ((w.end - w.start) / 1000), "responses/s"),
          ...(z !== null ? [evidence("z_score", z, "sigma"), evidence("baseline_mean", b!.mean, "responses")] : []),
        ],
        recommendation: `Host ${w.key} got ${s.nx} NXDOMAIN answers (${(share * 100).toFixed(0)} % of its answers) for ${s.names.size} different names: the signature of a DGA-infected host looking for its command server, or a broken search-domain setting. Check the names against the DGA detections; if they look generated, isolate ${w.key} and block the domains that resolve.`,
      }),
    );
  }
}
