// Collector start-up: pcap mode (user-space parsers) or XDP mode (kernel programs), publishing through
// one producer, and model sync from the compacted model topic.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createProducer } from "../../../lib/src/kafka.js";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { publicKeyFromPem } from "../../../lib/src/model/signing.js";
import type { RunningService, ServiceContext } from "../../../lib/src/service-runtime.js";
import type { XdpMode } from "./bpf.js";
import type { CaptureInput } from "./capture-merge.js";
import { createModelSync } from "./model-sync.js";
import { runPcap } from "./pcap-collector.js";
import { Publisher } from "./publisher.js";
import type { ReplaySpeed } from "./replay.js";
import { UserspaceScorer } from "./userspace-scorer.js";
import { startXdpCollector } from "./xdp-collector.js";

export interface CollectorOptions {
  readonly inputs: readonly CaptureInput[];
  readonly speed: ReplaySpeed;
  /** Keep running after the captures end (to follow model updates) until stopped. */
  readonly follow: boolean;
  /** XDP mode on this interface, whatever collector.mode says (the command line's --xdp). */
  readonly xdpInterface?: string;
  /** Overrides collector.xdp_mode. */
  readonly xdpMode?: XdpMode;
  /** Where XDP mode pins its maps (null: no pins). Default /sys/fs/bpf/stoq/<interface>. */
  readonly pinDir?: string | null;
}

/** XDP mode: the kernel programs on one interface (xdp-collector.ts), configured from stoq_config. */
async function startXdp(ctx: ServiceContext, iface: string, o: CollectorOptions): Promise<RunningService> {
  const { config, log } = ctx;
  const c = config.collector;
  const collector = await startXdpCollector({
    node: ctx.node,
    instance: ctx.instance,
    log,
    kafka: ctx.kafka,
    interface: iface,
    xdpMode: o.xdpMode ?? c.xdp_mode,
    enforcement: c.enforcement,
    inference: config.machine_learning.kernel_inference.enabled,
    actOnVerdicts: config.machine_learning.threat_detection.enabled,
    ringBufferBytes: c.ring_buffer_bytes,
    flowsMax: config.performance.concurrent_flows_limit,
    flowActiveTimeoutMs: c.flow_active_timeout,
    flowIdleTimeoutMs: config.statistical_analysis.network_flow_modeling.flow_timeout,
    maxBufferedRecords: c.max_buffered_records,
    modelName: config.model.name,
    trustedKeys: [publicKeyFromPem(readFileSync(resolve(config.model.public_key_file), "utf8"))],
    pinDir: o.pinDir === undefined ? `/sys/fs/bpf/stoq/${iface}` : o.pinDir,
  });
  return { ready: () => collector.ready(), close: () => collector.close() };
}

export async function startCollector(ctx: ServiceContext, o: CollectorOptions): Promise<RunningService> {
  const { config, log } = ctx;
  const xdpInterface = o.xdpInterface ?? (config.collector.mode === "xdp" ? config.collector.interface : null);
  if (xdpInterface !== null) {
    if (o.inputs.length > 0) throw new Error("--pcap and XDP mode exclude each other: replay captures with collector.mode = pcap");
    return startXdp(ctx, xdpInterface, o);
  }
  if (o.inputs.length === 0) throw new Error("pcap mode needs at least one --pcap FILE");
  const producer = createProducer(ctx.kafka, { maxBacklogRecords: config.collector.max_buffered_records, logger: log });
  const publisher = new Publisher(producer);
  const scorer = new UserspaceScorer({ node: ctx.node, bigram: loadBigramTable(), mode: config.collector.enforcement });
  const keyPath = resolve(config.model.public_key_file);
  const sync = createModelSync({
    kafka: ctx.kafka,
    modelName: config.model.name,
    trustedKeys: [publicKeyFromPem(readFileSync(keyPath, "utf8"))],
    sink: { apply: (model) => scorer.setModel(model) },
    instance: ctx.instance,
    log,
  });
  await sync.start();

  const abort = new AbortController();
  let replaying = true;
  const replay = runPcap({
    inputs: o.inputs,
    node: ctx.node,
    speed: o.speed,
    publisher,
    scorer,
    flowIdleTimeoutMs: config.statistical_analysis.network_flow_modeling.flow_timeout,
    flowActiveTimeoutMs: config.collector.flow_active_timeout,
    maxFlows: config.performance.concurrent_flows_limit,
    signal: abort.signal,
    onProgress: (packets) => log.info({ packets }, "replay progress"),
  }).then((r) => {
    replaying = false;
    log.info({ packets: r.packets, wallMs: Math.round(r.wallMs), published: Object.fromEntries(publisher.counts), observer: r.observer, scorer: r.scorer }, "replay done");
  });
  return {
    ready: () => true,
    ...(o.follow ? {} : { done: replay }),
    async close() {
      if (replaying) abort.abort();
      await replay.catch(() => undefined);
      await sync.close();
      await producer.close();
    },
  };
}
