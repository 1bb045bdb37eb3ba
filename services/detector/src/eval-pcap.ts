// The pcap task of `npm run eval`: a capture through the collector's user-space parsing (Observer and
// records, in process, no Kafka) and the detector set the service runs, reporting whether and how fast the
// expected detection fires and what else fires. Time is the capture's: a detection counts from the packet
// whose records made it fire, so records the collector only exports when a flow ends are charged their wait.
import type { Anomaly, CertObservation, DnsEvent, FlowRecord } from "../../../lib/src/avro.js";
import { loadConfig, type StoqConfig } from "../../../lib/src/config.js";
import { Observer, type Observation } from "../../collector/src/observer.js";
import { readCapture } from "../../collector/src/pcap.js";
import { certObservation, dnsEvent, flowRecord } from "../../collector/src/records.js";
import { DetectorSet } from "./detector-set.js";
import { loadNameScorer, type NameScorer } from "./query-name-scorer.js";

/** What each expected kind accepts, by detector name. */
export const KINDS: Readonly<Record<string, (detector: string) => boolean>> = {
  flood: (d) => d === "flow.syn_flood" || d === "dns.amplification",
  scan: (d) => d === "flow.port_scan",
  tunnel: (d) => d === "dns.tunnel",
  nxdomain: (d) => d === "dns.nxdomain_storm",
  amplification: (d) => d === "dns.amplification",
  congestion: (d) => d === "flow.congestion",
  certificate: (d) => d.startsWith("cert."),
  rate: (d) => d.endsWith(".rate_ewma"),
  dga: (d) => d === "dns.dga",
};

export function kindOf(detector: string): string {
  for (const [kind, accepts] of Object.entries(KINDS)) if (kind !== "amplification" && accepts(detector)) return kind;
  return "other";
}

export interface PcapDetection {
  readonly detector: string;
  readonly kind: string;
  readonly entity_type: string;
  readonly entity: string;
  readonly threat_level: string;
  readonly confidence: number;
  /** Capture seconds from the first packet to the packet that made it fire. */
  readonly seconds: number;
}

export interface PcapEvalResult {
  readonly task: "pcap";
  readonly file: string;
  readonly expected: string;
  readonly detected: boolean;
  readonly seconds_to_detection: number | null;
  readonly detection: PcapDetection | null;
  readonly other_detections: readonly PcapDetection[];
  readonly packets: number;
  readonly capture_seconds: number;
}

export interface EvalPcapOptions {
  /** Default: the repository's config (STOQ_CONFIG_PATH or config/stoq.yaml). */
  readonly config?: StoqConfig;
  /** Default: the shipped query-name model (null: none, names judged by shape only). */
  readonly nameScorer?: NameScorer | null;
}

export async function evalPcap(file: string, expect: string, o: EvalPcapOptions = {}): Promise<PcapEvalResult> {
  const accepts = KINDS[expect];
  if (accepts === undefined) throw new Error(`--expect ${expect}: allowed ${Object.keys(KINDS).join(", ")}`);
  const config = o.config ?? loadConfig();
  const set = new DetectorSet(config, { nameScorer: o.nameScorer === undefined ? loadNameScorer() : o.nameScorer });
  const queue: Observation[] = [];
  const observer = new Observer((ob) => queue.push(ob), {
    idleTimeoutUs: config.statistical_analysis.network_flow_modeling.flow_timeout * 1000,
    activeTimeoutUs: config.collector.flow_active_timeout * 1000,
    maxFlows: config.performance.concurrent_flows_limit,
  });
  const node = "eval";
  const found = new Map<string, PcapDetection>();
  let firstUs = NaN;
  let nowUs = NaN;
  let packets = 0;

  const record = (anomalies: readonly Anomaly[]): void => {
    for (const a of anomalies) {
      if (found.has(a.id)) continue;
      found.set(a.id, { detector: a.detector, kind: kindOf(a.detector), entity_type: a.entity_type, entity: a.entity, threat_level: a.threat_level, confidence: round(a.confidence), seconds: round((nowUs - firstUs) / 1e6) });
    }
  };
  const drain = (): void => {
    const dns: DnsEvent[] = [];
    const flows: FlowRecord[] = [];
    const certs: CertObservation[] = [];
    for (const ob of queue.splice(0)) {
      if (ob.kind === "dns") dns.push(dnsEvent(ob, node).value);
      else if (ob.kind === "flow") flows.push(flowRecord(ob.flow, node).value);
      else if (ob.kind === "cert") certs.push(certObservation(ob, node).value);
    }
    // Flows a timeout or the end of input releases together reach the detectors in the order they began.
    flows.sort((a, b) => a.first_seen_us - b.first_seen_us);
    const out: Anomaly[] = [];
    for (const e of dns) set.dnsEvent(e, out);
    set.flowBatch(flows, out);
    for (const c of certs) set.cert(c, out);
    set.advance(out);
    record(out);
  };

  for await (const p of readCapture(file)) {
    if (packets++ === 0) firstUs = p.tsUs;
    nowUs = Math.max(Number.isNaN(nowUs) ? p.tsUs : nowUs, p.tsUs);
    observer.capture(p);
    if (queue.length > 0) drain();
  }
  observer.flush();
  drain();
  const out: Anomaly[] = [];
  set.flush(out);
  record(out);

  const all = [...found.values()].sort((a, b) => a.seconds - b.seconds || (a.detector < b.detector ? -1 : 1));
  const hit = all.find((d) => accepts(d.detector)) ?? null;
  return {
    task: "pcap",
    file,
    expected: expect,
    detected: hit !== null,
    seconds_to_detection: hit?.seconds ?? null,
    detection: hit,
    other_detections: all.filter((d) => !accepts(d.detector)),
    packets,
    capture_seconds: packets > 0 ? round((nowUs - firstUs) / 1e6) : 0,
  };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
