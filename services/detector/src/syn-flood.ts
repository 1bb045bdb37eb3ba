// SYN floods per destination: connection attempts the initiators never complete, arriving faster than any
// client population opens connections to one host, judged on attempt rate so a port scan (the same
// half-open flows, at a probing pace) is left to the scan detector.
import type { Anomaly, FlowRecord } from "../../../lib/src/avro.js";
import { clamp01, evidence, toAnomaly } from "./anomaly.js";
import { KeyedWindows, type WindowSlot } from "./event-windows.js";
import { isHalfOpen, isTcpAttempt, TCP_FLAGS } from "./tcp-flags.js";

export interface SynFloodOptions {
  readonly windowMs?: number;
  /** Flow records reach the detector after the flow's idle timeout: windows must wait that long. */
  readonly latenessMs?: number;
  readonly maxDestinations?: number;
  /** Half-open attempts a window needs (default 500). */
  readonly minHalfOpen?: number;
  /** Half-open attempts per second (over their first-packet times) that make a flood (default 500/s). */
  readonly minRate?: number;
}

export interface SynFloodState {
  attempts: number;
  halfOpen: number;
  synPackets: number;
  rejected: number;
  unanswered: number;
  firstUs: number;
  lastUs: number;
  readonly sources: Map<string, number>;
  readonly ports: Map<number, number>;
  fired: boolean;
}

const MAX_TRACKED = 4096;

/** Half-open attempts per second over the span of their first packets (at least 1 ms). */
export function attemptRate(count: number, firstUs: number, lastUs: number): number {
  return count / Math.max(0.001, (lastUs - firstUs) / 1e6);
}

export class SynFloodDetector {
  private readonly windows: KeyedWindows<SynFloodState>;
  readonly minHalfOpen: number;
  readonly minRate: number;

  constructor(o: SynFloodOptions = {}) {
    this.windows = new KeyedWindows({
      windowMs: o.windowMs ?? 10_000,
      latenessMs: o.latenessMs ?? 305_000,
      maxKeys: o.maxDestinations ?? 100_000,
      create: () => ({ attempts: 0, halfOpen: 0, synPackets: 0, rejected: 0, unanswered: 0, firstUs: Infinity, lastUs: -Infinity, sources: new Map(), ports: new Map(), fired: false }),
    });
    this.minHalfOpen = o.minHalfOpen ?? 500;
    this.minRate = o.minRate ?? 500;
  }

  /** Whether a flood on `dst` was detected in the window holding `tMs`. */
  flooded(dst: string, tMs: number): boolean {
    return this.windows.peek(dst, tMs)?.state.fired ?? false;
  }

  observe(f: FlowRecord, out: Anomaly[]): void {
    if (!isTcpAttempt(f)) return;
    const t = f.last_seen_us / 1000;
    const w = this.windows.slot(f.dst_addr, t, (c) => this.closed(c, out));
    this.windows.close((c) => this.closed(c, out));
    if (w === null) return;
    const s = w.state;
    s.attempts++;
    if (!isHalfOpen(f)) return;
    s.halfOpen++;
    s.synPackets += Math.max(1, f.syn_count);
    if ((f.tcp_flags_rev & TCP_FLAGS.RST) !== 0) s.rejected++;
    if (f.packets_rev === 0) s.unanswered++;
    s.firstUs = Math.min(s.firstUs, f.first_seen_us);
    s.lastUs = Math.max(s.lastUs, f.first_seen_us);
    if (s.sources.size < MAX_TRACKED || s.sources.has(f.src_addr)) s.sources.set(f.src_addr, (s.sources.get(f.src_addr) ?? 0) + 1);
    if (s.ports.size < MAX_TRACKED || s.ports.has(f.dst_port)) s.ports.set(f.dst_port, (s.ports.get(f.dst_port) ?? 0) + 1);
    if (!s.fired) this.check(w, t, out);
  }

  advance(tMs: number, out: Anomaly[]): void {
    this.windows.advanceTo(tMs);
    this.windows.close((c) => this.closed(c, out));
  }

  flush(out: Anomaly[]): void {
    this.windows.close((c) => this.closed(c, out), true);
  }

  private closed(w: WindowSlot<SynFloodState>, out: Anomaly[]): void {
    if (!w.state.fired) this.check(w, w.end, out);
  }

  private check(w: WindowSlot<SynFloodState>, atMs: number, out: Anomaly[]): void {
    const s = w.state;
    if (s.halfOpen < this.minHalfOpen) return;
    const rate = attemptRate(s.halfOpen, s.firstUs, s.lastUs);
    const share = s.halfOpen / Math.max(1, s.attempts);
    if (rate < this.minRate || share < 0.5) return;
    s.fired = true;
    const top = [...s.sources.entries()].sort((a, b) => b[1] - a[1]);
    const topShare = (top[0]?.[1] ?? 0) / s.halfOpen;
    const ports = [...s.ports.entries()].sort((a, b) => b[1] - a[1]);
    const spoofed = s.sources.size >= 100 && topShare < 0.2;
    const score = clamp01(0.6 + 0.2 * Math.log10(rate / this.minRate) + 0.1 * Math.log10(s.halfOpen / this.minHalfOpen));
    out.push(
      toAnomaly({
        detector: "flow.syn_flood",
        entityType: "destination",
        entity: w.key,
        windowStartMs: w.start,
        windowEndMs: w.end,
        score,
        confidence: clamp01(share) * clamp01(0.5 + 0.5 * Math.log10(rate / this.minRate + 1)),
        detectedAtMs: Math.min(w.end, Math.max(w.start, Math.floor(atMs))),
        evidence: [
          evidence("half_open_attempts", s.halfOpen, "connections"),
          evidence("half_open_share", share, "fraction"),
          evidence("syn_rate", rate, "connections/s"),
          evidence("syn_packets", s.synPackets, "packets"),
          evidence("rejected_with_rst", s.rejected, "connections"),
          evidence("unanswered", s.unanswered, "connections"),
          evidence("sources", s.sources.size, "hosts", top.slice(0, 5).map(([a, n]) => `${a}=${n}`).join(" ")),
          evidence("top_source_share", topShare, "fraction"),
          evidence("target_ports", s.ports.size, "ports", ports.slice(0, 5).map(([p, n]) => `${p}=${n}`).join(" ")),
        ],
        recommendation: spoofed
          ? `${w.key} is under a SYN flood from ${s.sources.size} (likely spoofed) sources at ${rate.toFixed(0)} SYN/s: enable SYN cookies on it, and ask upstream to filter or scrub traffic to it; blocking single sources will not help.`
          : `${w.key} is under a SYN flood at ${rate.toFixed(0)} SYN/s, ${(topShare * 100).toFixed(0)} % from ${top[0]?.[0] ?? "?"}: block that source at the edge, enable SYN cookies on ${w.key}, and rate-limit new connections per source.`,
      }),
    );
  }
}
