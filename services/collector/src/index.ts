// Collector start-up: pcap mode (user-space parsers) or XDP mode (kernel programs), publishing through
// one producer, and model sync from the compacted model topic.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createProducer } from "../../../lib/src/kafka.js";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { publicKeyFromPem } from "../../../lib/src/model/signing.js";
import type { RunningService, ServiceContext } from "../../../lib/src/service-runtime.js";
import type { CaptureInput } from "./capture-merge.js";
import { createModelSync } from "./model-sync.js";
import { runPcap } from "./pcap-collector.js";
import { Publisher } from "./publisher.js";
import type { ReplaySpeed } from "./replay.js";
import { UserspaceScorer } from "./userspace-scorer.js";

export interface CollectorOptions {
  readonly inputs: readonly CaptureInput[];
  readonly speed: ReplaySpeed;
  /** Keep running after the captures end (to follow model updates) until stopped. */
  readonly follow: boolean;
}

export async function startCollector(ctx: ServiceContext, o: CollectorOptions): Promise<RunningService> {
  const { config, log } = ctx;
  if (config.collector.mode === "xdp") {
    throw new Error("stoq_config.collector.mode = xdp: the kernel data path is started by `stoq collector --xdp`, not yet wired here; use pcap");
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
