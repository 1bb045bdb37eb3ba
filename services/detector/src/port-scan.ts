// Port and host scans per source: many distinct ports probed on one host (vertical), one port probed on
// many hosts (horizontal), or both (block), mostly refused or unanswered, at a probing pace (faster
// half-open attempts at one host are a flood, the SYN-flood detector's business).
import type { Anomaly, FlowRecord } from "../../../lib/src/avro.js";
import { clamp01, evidence, toAnomaly } from "./anomaly.js";
import { KeyedWindows, type WindowSlot } from "./event-windows.js";
import { attemptRate } from "./syn-flood.js";
import { isFailedAttempt } from "./tcp-flags.js";

export interface PortScanOptions {
  readonly windowMs?: number;
  readonly latenessMs?: number;
  readonly maxSources?: number;
  /** Distinct ports on one host that make a vertical scan (default 50). */
  readonly minPorts?: number;
  /** Distinct hosts on one port that make a horizontal scan (default 50). */
  readonly minHosts?: number;
  /** At and above this attempt rate to one host it is a flood, not a scan (default 500/s, as the SYN-flood detector). */
  readonly floodRate?: number;
  /** Whether `dst` is known to be flooded at `tMs`: many ports probed on a flooded host are the flood's. */
  readonly flooded?: (dst: string, tMs: number) => boolean;
}

interface ScanState {
  attempts: number;
  failed: number;
  readonly pairs: Set<string>;
  readonly portsPerHost: Map<string, number>;
  readonly hostsPerPort: Map<number, number>;
  readonly ports: Set<number>;
  firstUs: number;
  lastUs: number;
  fired: boolean;
}

const MAX_PAIRS = 16_384;

export class PortScanDetector {
  private readonly windows: KeyedWindows<ScanState>;
  private readonly minPorts: number;
  private readonly minHosts: number;
  private readonly floodRate: number;
  private readonly flooded: (dst: string, tMs: number) => boolean;

  constructor(o: PortScanOptions = {}) {
    this.windows = new KeyedWindows({
      windowMs: o.windowMs ?? 60_000,
      latenessMs: o.latenessMs ?? 305_000,
      maxKeys: o.maxSources ?? 100_000,
      create: () => ({ attempts: 0, failed: 0, pairs: new Set(), portsPerHost: new Map(), hostsPerPort: new Map(), ports: new Set(), firstUs: Infinity, lastUs: -Infinity, fired: false }),
    });
    this.minPorts = o.minPorts ?? 50;
    this.minHosts = o.minHosts ?? 50;
    this.floodRate = o.floodRate ?? 500;
    this.flooded = o.flooded ?? (() => false);
  }

  observe(f: FlowRecord, out: Anomaly[]): void {
    const t = f.last_seen_us / 1000;
    const w = this.windows.slot(f.src_addr, t, (c) => this.closed(c, out));
    this.windows.close((c) => this.closed(c, out));
    if (w === null) return;
    const s = w.state;
    s.attempts++;
    if (isFailedAttempt(f)) s.failed++;
    s.firstUs = Math.min(s.firstUs, f.first_seen_us);
    s.lastUs = Math.max(s.lastUs, f.first_seen_us);
    const pair = `${f.dst_addr} ${f.dst_port}`;
    if (!s.pairs.has(pair) && s.pairs.size < MAX_PAIRS) {
      s.pairs.add(pair);
      s.portsPerHost.set(f.dst_addr, (s.portsPerHost.get(f.dst_addr) ?? 0) + 1);
      s.hostsPerPort.set(f.dst_port, (s.hostsPerPort.get(f.dst_port) ?? 0) + 1);
      s.ports.add(f.dst_port);
    }
    if (!s.fired) this.check(w, t, out);
  }

  advance(tMs: number, out: Anomaly[]): void {
    this.windows.advanceTo(tMs);
    this.windows.close((c) => this.closed(c, out));
  }

  flush(out: Anomaly[]): void {
    this.windows.close((c) => this.closed(c, out), true);
  }

  private closed(w: WindowSlot<ScanState>, out: Anomaly[]): void {
    if (!w.state.fired) this.check(w, w.end, out);
  }

  private check(w: WindowSlot<ScanState>, atMs: number, out: Anomaly[]): void {
    const s = w.state;
    const [topHost, hostPorts] = maxEntry(s.portsPerHost);
    const [topPort, portHosts] = maxEntry(s.hostsPerPort);
    const vertical = hostPorts >= this.minPorts;
    const horizontal = portHosts >= this.minHosts;
    if (!vertical && !horizontal) return;
    const failedShare = s.failed / Math.max(1, s.attempts);
    if (failedShare < 0.5) return;
    const rate = attemptRate(s.attempts, s.firstUs, s.lastUs);
    // Half-open attempts at one host faster than floodRate exhaust it whatever the ports: a flood.
    if (vertical && !horizontal && (rate >= this.floodRate || this.flooded(String(topHost), atMs))) return;
    s.fired = true;
    const kind = vertical && horizontal ? "block" : vertical ? "vertical" : "horizontal";
    const breadth = Math.max(hostPorts / this.minPorts, portHosts / this.minHosts);
    const ports = [...s.ports].sort((a, b) => a - b);
    const score = clamp01(0.5 + 0.2 * Math.log10(breadth) + 0.2 * (failedShare - 0.5) * 2);
    out.push(
      toAnomaly({
        detector: "flow.port_scan",
        entityType: "source",
        entity: w.key,
        windowStartMs: w.start,
        windowEndMs: w.end,
        score,
        confidence: clamp01(failedShare) * clamp01(0.6 + 0.4 * Math.log10(breadth + 1)),
        detectedAtMs: Math.min(w.end, Math.max(w.start, Math.floor(atMs))),
        evidence: [
          evidence("distinct_ports_on_one_host", hostPorts, "ports", topHost),
          evidence("distinct_hosts_on_one_port", portHosts, "hosts", String(topPort)),
          evidence("distinct_targets", s.pairs.size, "host:port pairs"),
          evidence("distinct_hosts", s.portsPerHost.size, "hosts"),
          evidence("distinct_ports", s.ports.size, "ports", `${ports[0]}-${ports[ports.length - 1]}`),
          evidence("failed_share", failedShare, "fraction"),
          evidence("attempts", s.attempts, "connections"),
          evidence("attempt_rate", rate, "connections/s"),
        ],
        recommendation: `${w.key} is running a ${kind} scan (${s.pairs.size} host:port targets, ${(failedShare * 100).toFixed(0)} % refused or unanswered): block ${w.key} at the edge if it is outside; if it is one of ours, investigate it for compromise. Check ${kind === "horizontal" ? `which hosts answer on port ${topPort}` : `which ports ${topHost} left open`}.`,
      }),
    );
  }
}

function maxEntry<K>(m: ReadonlyMap<K, number>): [K | "", number] {
  let best: [K | "", number] = ["", 0];
  for (const [k, v] of m) if (v > best[1]) best = [k, v];
  return best;
}
