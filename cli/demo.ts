// `stoq demo`: the walking skeleton on the embedded stack. Generates a capture (benign background, a DGA
// burst) and splices in real tunnel and SYN-flood captures, runs the four services, and reports what
// flowed: records per topic, aggregates in Redis, anomalies, and a model trained, signed, and applied.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import type { Anomaly, ModelUpdate } from "../lib/src/avro.js";
import { loadConfig } from "../lib/src/config.js";
import { kafkaConnection } from "../lib/src/service-runtime.js";
import { stackDown, stackStatus, stackUp } from "../lib/src/stack.js";
import { REPO_ROOT, stackEndpoints } from "../lib/src/stack-endpoints.js";
import { demoTraffic } from "../lib/src/scenario/demo-traffic.js";
import { writePcap } from "../lib/src/scenario/pcap-writer.js";
import { TOPICS } from "../lib/src/topics.js";
import { ensureDevSigningKey } from "../services/trainer/src/dev-signing-key.js";
import { startServiceProcess, type ServiceProcess } from "./demo-processes.js";
import { watchTopics } from "./topic-watch.js";

export const usage = `usage: stoq demo [--duration SECONDS] [--qps N] [--keep-stack] [--timeout SECONDS]

Brings the embedded stack up, generates DURATION seconds of DNS traffic (N queries/s from 20 clients,
a DGA burst from one infected client), splices in the real dns2tcp tunnel and CIC-DDoS2019 SYN-flood
captures from ../shared/data/pcap, and runs collector, aggregator, detector and trainer against it.
Prints what arrived on each topic, in Redis and in Prometheus, then stops the services (and the stack,
if the demo started it, unless --keep-stack).
  --duration SECONDS  length of the generated background (default 120)
  --qps N             background queries per second (default 30)
  --timeout SECONDS   give up waiting for a stage after this long (default 180)`;

const DATA = resolve(REPO_ROOT, "../shared/data");

export interface DemoOptions {
  readonly durationS: number;
  readonly qps: number;
  readonly timeoutS: number;
  readonly keepStack: boolean;
  readonly say: (line: string) => void;
}

export interface DemoResult {
  /** Packets of the generated background capture (the real captures add their own). */
  readonly backgroundPackets: number;
  readonly records: Readonly<Record<string, number>>;
  readonly anomalies: readonly Anomaly[];
  readonly modelUpdates: readonly ModelUpdate[];
  readonly redisAggregateKeys: number;
  readonly appliedVersion: number;
  readonly logDir: string;
  readonly elapsedS: number;
}

/** Environment for the demo's services: windows and training sized for a two-minute scenario. */
export function demoEnv(runId: string): NodeJS.ProcessEnv {
  return {
    // Its own aggregator instance (and so transactional id): a demo never fences a running aggregator.
    STOQ__AGGREGATOR__INSTANCE: `demo-${runId}`,
    STOQ__MACHINE_LEARNING__CONTINUOUS_LEARNING__TRAINING_INTERVAL: "10s",
    STOQ__MACHINE_LEARNING__CONTINUOUS_LEARNING__MIN_TRAINING_SAMPLES: "1000",
    STOQ__DETECTOR__WARMUP_WINDOWS: "20",
  };
}

/** The first value of an instant query against Prometheus, or null when the result is empty. */
export async function promQuery(url: string, query: string): Promise<number | null> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { data?: { result?: { value?: [number, string] }[] } };
  const v = body.data?.result?.[0]?.value?.[1];
  return v === undefined ? null : Number(v);
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = Date.now();
  const elapsed = (): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;
  const say = (line: string): void => o.say(`[${elapsed()}] ${line}`);
  const config = loadConfig();
  const ep = stackEndpoints();
  const wasUp = (await stackStatus()).every((c) => c.healthy);
  await stackUp({ alertThresholds: config.monitoring.alert_thresholds, progress: (l) => say(`stack: ${l}`) });
  const dir = join(ep.stateDir, "demo");
  const logDir = join(dir, `logs-${t0}`);
  mkdirSync(dir, { recursive: true });
  ensureDevSigningKey(config);

  const startUs = (Date.now() - o.durationS * 1000) * 1000;
  const background = join(dir, "background.pcap");
  const packets = demoTraffic({
    startUs, durationS: o.durationS, queriesPerSecond: o.qps,
    benignCsv: join(DATA, "domains/benign.csv"), dgaCsv: join(DATA, "domains/dga.csv"),
    dgaBurstAtS: Math.round(o.durationS * 0.5), dgaBurstQueries: 200,
  });
  await writePcap(background, packets);
  say(`generated ${packets.length.toLocaleString()} packets of background DNS with a DGA burst at ${Math.round(o.durationS * 0.5)} s`);

  const kafka = kafkaConnection(config);
  const watch = await watchTopics(
    kafka,
    [TOPICS.dns, TOPICS.flows, TOPICS.features, TOPICS.certs, TOPICS.aggregates, TOPICS.anomalies, TOPICS.modelUpdates, TOPICS.dlq],
    [TOPICS.anomalies, TOPICS.modelUpdates],
  );
  const env = demoEnv(String(t0));
  const procs: ServiceProcess[] = [];
  const redis = new Redis(ep.redisUrl);
  try {
    for (const svc of ["aggregator", "detector", "trainer"]) procs.push(startServiceProcess(svc, [svc], env, logDir));
    const tunnelAt = Math.round(o.durationS * 0.7);
    const floodAt = Math.round(o.durationS * 0.85);
    procs.push(startServiceProcess("collector", [
      "collector", "--follow",
      "--pcap", background,
      "--pcap", `${join(DATA, "pcap/dns2tcp_netrack_2018-03-23.pcap")}@${tunnelAt}`,
      "--pcap", `${join(DATA, "pcap/CIC-DDoS-2019-SynFlood.pcap")}@${floodAt}`,
    ], env, logDir));
    say(`started collector, aggregator, detector, trainer (logs in ${logDir})`);
    say(`spliced the real dns2tcp tunnel at ${tunnelAt} s and the SYN flood at ${floodAt} s`);
    for (const p of procs) {
      void p.exited.then((code) => {
        if (code !== 0 && code !== "SIGTERM") say(`${p.name} exited with ${code}: see ${p.logFile}`);
      });
    }

    const timeoutMs = o.timeoutS * 1000;
    await watch.until("DNS events from the collector", () => watch.count(TOPICS.dns) >= packets.length, timeoutMs);
    say(`collector: ${watch.count(TOPICS.dns).toLocaleString()} DNS events, ${watch.count(TOPICS.flows).toLocaleString()} flows, ${watch.count(TOPICS.features).toLocaleString()} feature vectors published`);
    await watch.until("window aggregates", () => watch.count(TOPICS.aggregates) > 0, timeoutMs);
    say(`aggregator: ${watch.count(TOPICS.aggregates).toLocaleString()} window aggregates so far`);
    await watch.until("an anomaly", () => watch.kept(TOPICS.anomalies).length > 0, timeoutMs);
    for (const a of watch.kept(TOPICS.anomalies).slice(0, 5).map((r) => r.value as Anomaly)) {
      say(`detector: ${a.threat_level.toUpperCase()} ${a.detector} on ${a.entity_type} ${a.entity} (score ${a.score.toFixed(2)}): ${a.recommendation}`);
    }
    await watch.until("a model update", () => watch.kept(TOPICS.modelUpdates).length > 0, timeoutMs);
    const update = watch.kept(TOPICS.modelUpdates).at(-1)!.value as ModelUpdate;
    say(`trainer: published ${update.model_name} v${update.version} (${Object.entries(update.training_metrics).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(", ")})`);
    let applied = 0;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      applied = (await promQuery(ep.prometheusUrl, 'max(stoq_model_applied_version{job="collector"})')) ?? 0;
      if (applied >= update.version) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (applied < update.version) throw new Error(`collector did not report model v${update.version} applied to Prometheus within ${o.timeoutS} s`);
    const delay = await promQuery(ep.prometheusUrl, 'max(stoq_model_last_apply_delay_seconds{job="collector"})');
    say(`collector: applied model v${applied}, ${delay === null ? "?" : (delay * 1000).toFixed(0)} ms after the trainer signed it (Prometheus stoq_model_applied_version, stoq_model_last_apply_delay_seconds)`);
    const redisKeys = (await redis.keys(`${config.infrastructure.redis.key_prefix}agg:*`)).length;
    say(`redis: ${redisKeys.toLocaleString()} aggregate keys under ${config.infrastructure.redis.key_prefix}agg:*`);
    const records = Object.fromEntries(
      [TOPICS.dns, TOPICS.flows, TOPICS.features, TOPICS.certs, TOPICS.aggregates, TOPICS.anomalies, TOPICS.modelUpdates, TOPICS.dlq].map((t) => [t, watch.count(t)]),
    );
    return {
      backgroundPackets: packets.length,
      records,
      anomalies: watch.kept(TOPICS.anomalies).map((r) => r.value as Anomaly),
      modelUpdates: watch.kept(TOPICS.modelUpdates).map((r) => r.value as ModelUpdate),
      redisAggregateKeys: redisKeys,
      appliedVersion: applied,
      logDir,
      elapsedS: (Date.now() - t0) / 1000,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await watch.close();
    redis.disconnect();
    if (!wasUp && !o.keepStack) {
      await stackDown();
      say("stack stopped (it was not running before the demo)");
    }
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { duration: { type: "string" }, qps: { type: "string" }, timeout: { type: "string" }, "keep-stack": { type: "boolean" } },
  });
  const num = (name: string, raw: string | undefined, def: number): number => {
    const v = raw === undefined ? def : Number(raw);
    if (!(v > 0)) throw new Error(`--${name} ${raw}: allowed a positive number`);
    return v;
  };
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const r = await runDemo({
    durationS: num("duration", values.duration, 120),
    qps: num("qps", values.qps, 30),
    timeoutS: num("timeout", values.timeout, 180),
    keepStack: values["keep-stack"] ?? false,
    say,
  });
  say("");
  say("topic                     records");
  for (const [t, n] of Object.entries(r.records)) say(`${t.padEnd(24)} ${String(n).padStart(8)}`);
  say("");
  say(`${r.anomalies.length} anomalies, ${r.modelUpdates.length} model update(s), model v${r.appliedVersion} applied by the collector, ${r.redisAggregateKeys} aggregate keys in Redis; ${r.elapsedS.toFixed(0)} s in all.`);
  say(`Prometheus: ${stackEndpoints().prometheusUrl}/graph  ·  service logs: ${r.logDir}`);
  return 0;
}
