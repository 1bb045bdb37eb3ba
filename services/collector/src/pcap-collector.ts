// pcap mode: replays captures through the user-space parsers and scorer and publishes the same records
// the XDP path does (DNS events, flows, certificates, feature vectors).
import { TOPICS } from "../../../lib/src/topics.js";
import { mergeCaptures, type CaptureInput } from "./capture-merge.js";
import { Observer, type Observation, type ObserverStats } from "./observer.js";
import type { Publisher } from "./publisher.js";
import { certObservation, dnsEvent, flowRecord } from "./records.js";
import { paced, type ReplaySpeed } from "./replay.js";
import type { ScorerStats, UserspaceScorer } from "./userspace-scorer.js";

export interface PcapRunOptions {
  readonly inputs: readonly CaptureInput[];
  readonly node: string;
  readonly speed: ReplaySpeed;
  readonly publisher: Publisher;
  readonly scorer: UserspaceScorer;
  readonly flowIdleTimeoutMs: number;
  readonly flowActiveTimeoutMs: number;
  readonly maxFlows: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (packets: number) => void;
}

export interface PcapRunResult {
  readonly packets: number;
  readonly wallMs: number;
  readonly observer: ObserverStats;
  readonly scorer: ScorerStats;
}

export async function runPcap(o: PcapRunOptions): Promise<PcapRunResult> {
  const queue: Observation[] = [];
  const observer = new Observer((ob) => queue.push(ob), {
    idleTimeoutUs: o.flowIdleTimeoutMs * 1000,
    activeTimeoutUs: o.flowActiveTimeoutMs * 1000,
    maxFlows: o.maxFlows,
  });
  const publishQueued = async (): Promise<void> => {
    for (const ob of queue.splice(0)) {
      if (ob.kind === "dns") {
        const e = dnsEvent(ob, o.node);
        await o.publisher.add(TOPICS.dns, "DnsEvent", e.key, e.value);
        const fv = o.scorer.observe(ob);
        if (fv) await o.publisher.add(TOPICS.features, "FeatureVector", fv.src_addr, fv);
      } else if (ob.kind === "flow") {
        const f = flowRecord(ob.flow, o.node);
        await o.publisher.add(TOPICS.flows, "FlowRecord", f.key, f.value);
      } else if (ob.kind === "cert") {
        const c = certObservation(ob, o.node);
        await o.publisher.add(TOPICS.certs, "CertObservation", c.key, c.value);
      }
    }
  };
  const started = performance.now();
  let packets = 0;
  for await (const p of paced(mergeCaptures(o.inputs), o.speed, o.signal)) {
    observer.capture(p);
    if (queue.length > 0) await publishQueued();
    if (++packets % 100_000 === 0) o.onProgress?.(packets);
  }
  observer.flush();
  await publishQueued();
  await o.publisher.flush();
  return { packets, wallMs: performance.now() - started, observer: observer.stats, scorer: o.scorer.stats };
}
