// XDP mode: the kernel programs on one interface, their ring buffer drained into DNS, feature-vector and
// certificate records, expired flows exported from the flow tables, verified models written into the
// kernel, and the enforcement mode switched on only once the newest model is in place.
//
//   ring buffer ──(packed batches)──▶ queue ──▶ KernelEventMapper ──▶ Publisher ──▶ Kafka
//   flow tables ──(scan timer)──────────────▶ KernelFlowExporter ──┘
//   model topic ──▶ model sync ──▶ KernelModelSink (inactive slot, flip)   [enforce: catch-up gate]
import type { KeyObject } from "node:crypto";
import { Gauge, Histogram } from "prom-client";
import type { FlowRecord } from "../../../lib/src/avro.js";
import { createProducer, type KafkaConnection, type KafkaProducer } from "../../../lib/src/kafka.js";
import type { Logger } from "../../../lib/src/log.js";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { TOPICS } from "../../../lib/src/topics.js";
import { RingBufferConsumer, type PackedEvents, type XdpMode } from "./bpf.js";
import { cumulativeCounter } from "./cumulative-metrics.js";
import { KernelClock, monotonicNowNs } from "./kernel-clock.js";
import { KernelEventMapper, type MappedRecord } from "./kernel-events.js";
import { EVENT_HEADER_LAYOUT } from "./kernel-layout.js";
import { AppliedVersion, enforceWhenCurrent } from "./enforcement-gate.js";
import { DEFAULT_CLOSE_LINGER_NS, KernelFlowExporter } from "./kernel-flows.js";
import { INITIAL_CONTROL, KernelDataPath } from "./kernel-loader.js";
import { KernelModelSink } from "./kernel-model-sink.js";
import { KernelStats } from "./kernel-stats.js";
import { newestAcceptableVersion } from "./model-catch-up.js";
import { createModelSync, type ModelSync } from "./model-sync.js";
import { Publisher } from "./publisher.js";
import { ServerFacts } from "./server-facts.js";
import type { EnforcementMode } from "./userspace-scorer.js";

export interface CollectorTopics {
  readonly dns: string;
  readonly flows: string;
  readonly certs: string;
  readonly features: string;
  readonly modelUpdates: string;
}

export interface XdpCollectorOptions {
  readonly node: string;
  /** Unique per process (model sync reads the whole topic under a group of its own). */
  readonly instance: string;
  readonly log: Logger;
  readonly kafka: KafkaConnection;
  /** null: load without attaching (the benchmark drives the programs with test runs). */
  readonly interface: string | null;
  readonly xdpMode: XdpMode;
  readonly enforcement: EnforcementMode;
  /** machine_learning.kernel_inference.enabled: when false no model reaches the kernel (parse and count only). */
  readonly inference: boolean;
  /** machine_learning.threat_detection.enabled: when false the kernel never enforces. */
  readonly actOnVerdicts: boolean;
  readonly ringBufferBytes: number;
  readonly flowsMax: number;
  readonly flowActiveTimeoutMs: number;
  readonly flowIdleTimeoutMs: number;
  readonly maxBufferedRecords: number;
  readonly modelName: string;
  readonly trustedKeys: readonly KeyObject[];
  readonly pinDir: string | null;
  readonly topics?: Partial<CollectorTopics>;
  readonly bigram?: Int16Array;
  readonly maxEntries?: Readonly<Record<string, number>>;
  /** How often the flow tables are scanned for flows to end. Default: a twelfth of the shorter timeout, 250 ms..5 s. */
  readonly flowScanIntervalMs?: number;
  /** Ring-buffer bytes waiting for the mapper beyond which new batches are shed (counted). Default 4 x the ring. */
  readonly maxQueuedEventBytes?: number;
  /** Drain the ring at least this often (the programs submit without wakeups). Default 5. */
  readonly consumeIntervalMs?: number;
  /** Start the ring consumer later, with start() (the benchmark fills the ring first). Default false. */
  readonly deferConsume?: boolean;
  /** The producer to publish with (the collector closes it); default one from `kafka` and maxBufferedRecords. */
  readonly producer?: KafkaProducer;
}

export interface XdpCollector {
  readonly kernel: KernelDataPath;
  readonly sink: KernelModelSink;
  readonly mapper: KernelEventMapper;
  readonly flows: KernelFlowExporter;
  readonly stats: KernelStats;
  readonly facts: ServerFacts;
  readonly producer: KafkaProducer;
  /** Settles once the configured mode is in force: for enforce, after the newest model was applied. */
  readonly enforcing: Promise<void>;
  /** Records acknowledged by the broker, by topic. */
  readonly published: ReadonlyMap<string, number>;
  /** Events shed because the mapper's queue was full. */
  readonly queueShed: number;
  ready(): boolean;
  /** Starts draining the ring (only with deferConsume). */
  start(): void;
  /** Resolves when every event delivered so far is mapped and its records are acknowledged. */
  settled(): Promise<void>;
  /** Ends the flows due at kernel time nowNs (default now), as the timer does, and queues their records. */
  scanFlows(nowNs?: bigint): void;
  close(): Promise<void>;
}

const shed = cumulativeCounter(
  "stoq_collector_shed_total",
  "What the collector dropped, by reason: ring_reservation (kernel ring full), flow_table / source_table (kernel map updates that failed), event_queue (mapper behind), publisher_backlog (broker away too long), undecodable_event, tls_state (handshakes dropped by the bound).",
  ["interface", "reason"],
);
const kernelEvents = cumulativeCounter("stoq_collector_kernel_events_total", "Ring-buffer events the collector mapped, by kind.", ["interface", "kind"]);
const parseErrors = cumulativeCounter(
  "stoq_collector_parse_errors_total",
  "Faults of the user-space parsers on what the kernel handed up, by parser and kind.",
  ["interface", "parser", "kind"],
);
// The seed's processing-latency p99 alert reads this: how long an event waits between the kernel and the
// producer. One observation per drained batch (its oldest event) keeps the hot loop free of per-record work.
const processingLatency = new Histogram({
  name: "stoq_processing_latency_seconds",
  help: "Kernel timestamp of the oldest event of each drained ring-buffer batch to the moment all its records were handed to the Kafka producer.",
  labelNames: ["interface"],
  buckets: [5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
});
const live = new Set<{ iface: string; mode: () => number }>();
new Gauge({
  name: "stoq_collector_kernel_mode",
  help: "Enforcement mode written to the kernel's control map: 0 observe, 1 shadow, 2 enforce.",
  labelNames: ["interface"],
  collect() {
    this.reset();
    for (const c of live) this.set({ interface: c.iface }, c.mode());
  },
});

type Outgoing = MappedRecord | { readonly name: "FlowRecord"; readonly key: string; readonly value: FlowRecord };

const RECORD_TOPIC: Readonly<Record<Outgoing["name"], keyof CollectorTopics>> = {
  DnsEvent: "dns",
  FeatureVector: "features",
  CertObservation: "certs",
  FlowRecord: "flows",
};

export async function startXdpCollector(o: XdpCollectorOptions): Promise<XdpCollector> {
  const log = o.log;
  const topics: CollectorTopics = {
    dns: TOPICS.dns,
    flows: TOPICS.flows,
    certs: TOPICS.certs,
    features: TOPICS.features,
    modelUpdates: TOPICS.modelUpdates,
    ...o.topics,
  };
  const kernel = KernelDataPath.load({
    interface: o.interface,
    xdpMode: o.xdpMode,
    ringBufferBytes: o.ringBufferBytes,
    flowsMax: o.flowsMax,
    bigram: o.bigram ?? loadBigramTable(),
    pinDir: o.pinDir,
    ...(o.maxEntries ? { maxEntries: o.maxEntries } : {}),
  });
  log.info({ links: kernel.links, pins: kernel.pins.length, stalePinsReplaced: kernel.replacedPins }, "kernel programs loaded");
  try {
    return await withKernel(o, kernel, topics);
  } catch (e) {
    // withKernel closes what it started once it can; this covers a failure before that.
    try {
      kernel.close();
    } catch {
      // the start-up failure is the error worth reporting
    }
    throw e;
  }
}

/** Everything of XDP mode around a loaded kernel data path. */
async function withKernel(o: XdpCollectorOptions, kernel: KernelDataPath, topics: CollectorTopics): Promise<XdpCollector> {
  const log = o.log;
  const iface = o.interface ?? "none";

  const clock = new KernelClock();
  const facts = new ServerFacts(kernel.map("stoq_servers"));
  const mapper = new KernelEventMapper({ node: o.node, clock, facts });
  const flows = new KernelFlowExporter([kernel.map("stoq_flows4"), kernel.map("stoq_flows6")], clock, o.node, {
    activeNs: BigInt(o.flowActiveTimeoutMs) * 1_000_000n,
    idleNs: BigInt(o.flowIdleTimeoutMs) * 1_000_000n,
    closeLingerNs: DEFAULT_CLOSE_LINGER_NS,
  });
  const stats = new KernelStats(kernel.map("stoq_stats"), iface);
  const sink = new KernelModelSink(kernel.map("stoq_models"), kernel.map("stoq_ngrams"), kernel.map("stoq_control"), INITIAL_CONTROL);
  if (o.enforcement === "shadow") sink.setMode("shadow");
  const producer = o.producer ?? createProducer(o.kafka, { maxBacklogRecords: o.maxBufferedRecords, logger: log });
  // About two produce requests' worth of records in flight keep the broker busy; more only wait in the
  // backlog and outlive young-generation collections (bench/collector.ts: 16k ran ~15 % faster than 50k).
  const publisher = new Publisher(producer, { maxInFlightRecords: 16_000 });

  // ---- the event path ------------------------------------------------------------------------------
  const maxQueued = o.maxQueuedEventBytes ?? 4 * o.ringBufferBytes;
  const batches: PackedEvents[] = [];
  let queuedBytes = 0;
  let queueShed = 0;
  const flowRecords: Outgoing[] = [];
  let running: Promise<void> | null = null;
  let failed: unknown = null;
  const idleWaiters: (() => void)[] = [];
  const out: MappedRecord[] = [];

  const publish = async (records: readonly Outgoing[]): Promise<void> => {
    for (const r of records) {
      await publisher.add(topics[RECORD_TOPIC[r.name]], r.name, r.key, r.value);
    }
  };
  const loop = async (): Promise<void> => {
    for (;;) {
      const b = batches.shift();
      if (b !== undefined) {
        queuedBytes -= b.data.length;
        // Event by event, so a record lives only until it is encoded: a whole batch's records held across
        // the awaits below were promoted out of the young generation (GC fell from 21 % to 17 % of the CPU).
        const { data, offsets, count } = b;
        for (let i = 0, j = 0; i < count; i++, j += 2) {
          out.length = 0;
          mapper.eventAt(data, offsets[j]!, offsets[j + 1]!, out);
          await publish(out);
        }
        if (count > 0 && offsets[1]! - offsets[0]! >= EVENT_HEADER_LAYOUT.size) {
          const oldestNs = data.readBigUInt64LE(offsets[0]! + EVENT_HEADER_LAYOUT.fields.ts_ns.offset);
          processingLatency.observe({ interface: iface }, Number(monotonicNowNs() - oldestNs) / 1e9);
        }
        continue;
      }
      if (flowRecords.length > 0) {
        await publish(flowRecords.splice(0));
        continue;
      }
      await publisher.flush();
      if (batches.length === 0 && flowRecords.length === 0) return;
    }
  };
  const kick = (): void => {
    if (running !== null) return;
    running = loop()
      .catch((e: unknown) => {
        failed = e;
        log.error({ err: e instanceof Error ? e.message : String(e) }, "collector: publishing failed");
      })
      .finally(() => {
        running = null;
        if (failed === null && (batches.length > 0 || flowRecords.length > 0)) kick();
        else for (const w of idleWaiters.splice(0)) w();
      });
  };
  const onBatch = (b: PackedEvents): void => {
    if (queuedBytes + b.data.length > maxQueued) {
      queueShed += b.count;
      return;
    }
    batches.push(b);
    queuedBytes += b.data.length;
    kick();
  };

  const scanFlows = (nowNs: bigint = monotonicNowNs()): void => {
    try {
      for (const f of flows.scan(nowNs)) flowRecords.push({ name: "FlowRecord", key: f.key, value: f.value });
      const nowUs = (performance.timeOrigin + performance.now()) * 1000;
      mapper.expire(nowUs);
      facts.refresh(nowUs / 1000);
    } catch (e) {
      log.error({ err: e instanceof Error ? e.message : String(e) }, "collector: flow scan failed");
    }
    if (flowRecords.length > 0) kick();
  };

  let consumer: RingBufferConsumer | null = null;
  let consumerFailed = false;
  const startConsumer = (): void => {
    consumer ??= new RingBufferConsumer(kernel.map("stoq_events"), onBatch, {
      packed: true,
      consumeIntervalMs: o.consumeIntervalMs ?? 5,
      onError: (e) => {
        consumerFailed = true;
        log.fatal({ err: e.message }, "collector: the ring-buffer consumer stopped; no more events will arrive");
      },
    });
  };

  const stopTracking = [
    shed.track(() => {
      const k = stats.read();
      const both = (n: "lost_ringbuf" | "lost_flow_update" | "lost_source_update"): number => Number(k.xdpIngress[n] + k.tcEgress[n]);
      return [
        [{ interface: iface, reason: "ring_reservation" }, both("lost_ringbuf")],
        [{ interface: iface, reason: "flow_table" }, both("lost_flow_update")],
        [{ interface: iface, reason: "source_table" }, both("lost_source_update")],
        [{ interface: iface, reason: "event_queue" }, queueShed],
        [{ interface: iface, reason: "publisher_backlog" }, producer.stats().shed],
        [{ interface: iface, reason: "undecodable_event" }, mapper.stats.undecodable],
        [{ interface: iface, reason: "tls_state" }, mapper.stats.tlsStateEvicted],
      ] as const;
    }),
    kernelEvents.track(() => Object.entries(mapper.stats.events).map(([kind, n]) => [{ interface: iface, kind }, n] as const)),
    parseErrors.track(() => [
      ...Object.entries(mapper.stats.dnsErrors).map(([kind, n]) => [{ interface: iface, parser: "dns", kind }, n ?? 0] as const),
      ...Object.entries(mapper.stats.tlsErrors).map(([kind, n]) => [{ interface: iface, parser: "tls", kind }, n ?? 0] as const),
      ...Object.entries(mapper.stats.x509Errors).map(([kind, n]) => [{ interface: iface, parser: "x509", kind }, n ?? 0] as const),
    ]),
  ];
  const liveEntry = { iface, mode: () => sink.control.mode };
  live.add(liveEntry);

  // ---- models and the enforcement gate ---------------------------------------------------------------
  const closing = new AbortController();
  const applied = new AppliedVersion();
  const sync: ModelSync | null = o.inference
    ? createModelSync({
        kafka: o.kafka,
        modelName: o.modelName,
        trustedKeys: o.trustedKeys,
        sink,
        instance: o.instance,
        log,
        topic: topics.modelUpdates,
        onApplied: () => applied.set(sink.version),
      })
    : null;

  const gate = async (): Promise<void> => {
    if (o.enforcement !== "enforce") return;
    if (!o.actOnVerdicts || sync === null) {
      log.warn({ inference: o.inference, actOnVerdicts: o.actOnVerdicts }, "collector.enforcement = enforce, but inference or threat detection is off: staying in observe");
      return;
    }
    await enforceWhenCurrent({
      newestOnTopic: () => newestAcceptableVersion({ kafka: o.kafka, topic: topics.modelUpdates, modelName: o.modelName, trustedKeys: o.trustedKeys, log }),
      applied,
      enforce: () => sink.setMode("enforce"),
      signal: closing.signal,
      log,
    });
  };

  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    const step = async (what: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
        log.error({ err: e instanceof Error ? e.message : String(e) }, `collector close: ${what} failed`);
      }
    };
    closing.abort();
    clearInterval(timer);
    await step("model sync", () => sync?.close());
    await step("detach", () => kernel.detach());
    await step("ring consumer", () => consumer?.close());
    await step("flow flush", () => {
      for (const f of flows.flush()) flowRecords.push({ name: "FlowRecord", key: f.key, value: f.value });
      kick();
    });
    await step("publish", async () => {
      while (running !== null) await running;
      await publisher.flush();
    });
    await step("metrics", () => {
      for (const stop of stopTracking) stop();
      live.delete(liveEntry);
      stats.close();
    });
    await step("producer", () => producer.close());
    await step("kernel", () => kernel.close());
    if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateError(errors, "closing the XDP collector failed");
  };

  const interval = o.flowScanIntervalMs ?? Math.min(5000, Math.max(250, Math.min(o.flowActiveTimeoutMs, o.flowIdleTimeoutMs) / 12));
  const timer = setInterval(() => scanFlows(), interval);
  timer.unref();
  try {
    if (!o.deferConsume) startConsumer();
    await sync?.start();
  } catch (e) {
    await closeAll().catch(() => undefined);
    throw e;
  }
  const enforcing = gate();
  enforcing.catch((e: unknown) => log.error({ err: e instanceof Error ? e.message : String(e) }, "collector: enforcement gate failed; staying in observe"));

  let closed: Promise<void> | null = null;
  return {
    kernel,
    sink,
    mapper,
    flows,
    stats,
    facts,
    producer,
    enforcing,
    published: publisher.counts,
    get queueShed() {
      return queueShed;
    },
    ready: () => !consumerFailed && failed === null && closed === null,
    start: startConsumer,
    settled: async () => {
      if (running === null && batches.length === 0 && flowRecords.length === 0) {
        await publisher.flush();
        return;
      }
      await new Promise<void>((r) => idleWaiters.push(r));
    },
    scanFlows,
    close: () => (closed ??= closeAll()),
  };
}
