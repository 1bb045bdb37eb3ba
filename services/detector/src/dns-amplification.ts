// DNS amplification per client: response bytes a host receives against the query bytes it sent, and
// answers to queries it never sent (the victim of a reflection attack sends none: its address was spoofed).
import type { Anomaly, DnsEvent } from "../../../lib/src/avro.js";
import { clamp01, evidence, toAnomaly } from "./anomaly.js";
import { KeyedWindows, type WindowSlot } from "./event-windows.js";
import { QTYPE } from "./dns-tunnel-domains.js";

export interface AmplificationOptions {
  readonly windowMs?: number;
  readonly latenessMs?: number;
  readonly maxSources?: number;
  /** Response bytes a window needs before it is judged (default 1 MB: below that no one is flooded). */
  readonly minResponseBytes?: number;
  /** Response/query byte ratio that counts as amplified (default 10). */
  readonly minRatio?: number;
}

interface AmpState {
  queries: number;
  queryBytes: number;
  responses: number;
  responseBytes: number;
  unsolicited: number;
  any: number;
  maxResponse: number;
  readonly servers: Set<string>;
  readonly domains: Map<string, number>;
  fired: boolean;
}

export class AmplificationDetector {
  private readonly windows: KeyedWindows<AmpState>;
  private readonly minBytes: number;
  private readonly minRatio: number;

  constructor(o: AmplificationOptions = {}) {
    this.windows = new KeyedWindows({
      windowMs: o.windowMs ?? 60_000,
      latenessMs: o.latenessMs ?? 5000,
      maxKeys: o.maxSources ?? 100_000,
      create: () => ({ queries: 0, queryBytes: 0, responses: 0, responseBytes: 0, unsolicited: 0, any: 0, maxResponse: 0, servers: new Set(), domains: new Map(), fired: false }),
    });
    this.minBytes = o.minResponseBytes ?? 1_000_000;
    this.minRatio = o.minRatio ?? 10;
  }

  observe(ev: DnsEvent, out: Anomaly[]): void {
    const t = ev.event_time_us / 1000;
    const client = ev.is_response ? ev.dst_addr : ev.src_addr;
    const w = this.windows.slot(client, t, (c) => this.closed(c, out));
    this.windows.close((c) => this.closed(c, out));
    if (w === null) return;
    const s = w.state;
    if (!ev.is_response) {
      s.queries++;
      s.queryBytes += ev.query_size ?? 0;
      if (ev.qtype === QTYPE.ANY) s.any++;
      return;
    }
    const size = ev.response_size ?? 0;
    s.responses++;
    s.responseBytes += size;
    if (size > s.maxResponse) s.maxResponse = size;
    if (ev.query_size === null) {
      s.unsolicited++;
      if (ev.qtype === QTYPE.ANY) s.any++;
    }
    if (s.servers.size < 256) s.servers.add(ev.src_addr);
    if (s.domains.size < 256 || s.domains.has(ev.registered_domain)) s.domains.set(ev.registered_domain, (s.domains.get(ev.registered_domain) ?? 0) + size);
    if (!s.fired) this.check(w, t, out);
  }

  advance(tMs: number, out: Anomaly[]): void {
    this.windows.advanceTo(tMs);
    this.windows.close((c) => this.closed(c, out));
  }

  flush(out: Anomaly[]): void {
    this.windows.close((c) => this.closed(c, out), true);
  }

  private closed(w: WindowSlot<AmpState>, out: Anomaly[]): void {
    if (!w.state.fired) this.check(w, w.end, out);
  }

  private check(w: WindowSlot<AmpState>, atMs: number, out: Anomaly[]): void {
    const s = w.state;
    if (s.responseBytes < this.minBytes) return;
    const ratio = s.responseBytes / Math.max(1, s.queryBytes);
    const unsolicitedShare = s.unsolicited / Math.max(1, s.responses);
    if (ratio < this.minRatio && unsolicitedShare < 0.8) return;
    s.fired = true;
    const seconds = (w.end - w.start) / 1000;
    const bps = (s.responseBytes * 8) / seconds;
    const top = [...s.domains.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([d, b]) => `${d}=${b}B`).join(" ");
    const score = clamp01(0.4 + 0.2 * Math.log10(s.responseBytes / this.minBytes) + 0.2 * unsolicitedShare + 0.2 * clamp01(Math.log10(Math.max(1, ratio)) / 2));
    out.push(
      toAnomaly({
        detector: "dns.amplification",
        entityType: "source",
        entity: w.key,
        windowStartMs: w.start,
        windowEndMs: w.end,
        score,
        confidence: clamp01(Math.max(unsolicitedShare, clamp01((ratio - this.minRatio) / (4 * this.minRatio)))) * clamp01(s.responses / 100),
        detectedAtMs: Math.min(w.end, Math.max(w.start, Math.floor(atMs))),
        evidence: [
          evidence("response_bytes_in", s.responseBytes, "bytes"),
          evidence("query_bytes_out", s.queryBytes, "bytes"),
          evidence("amplification_ratio", ratio, "x"),
          evidence("unsolicited_response_share", unsolicitedShare, "fraction"),
          evidence("responses", s.responses, "responses"),
          evidence("any_queries", s.any, "queries"),
          evidence("largest_response", s.maxResponse, "bytes"),
          evidence("reflecting_servers", s.servers.size, "hosts", [...s.servers].slice(0, 5).join(" ")),
          evidence("response_bandwidth", bps, "bit/s", top),
        ],
        recommendation: `${w.key} receives ${(bps / 1e6).toFixed(1)} Mbit/s of DNS answers, ${ratio.toFixed(0)}x the queries it sent${unsolicitedShare > 0.5 ? ", mostly to queries it never sent" : ""}: a reflection/amplification attack on it. Ask upstream to filter UDP source port 53 towards it, and have the ${s.servers.size} reflecting resolvers rate-limit responses (RRL) or stop answering ANY.`,
      }),
    );
  }
}
