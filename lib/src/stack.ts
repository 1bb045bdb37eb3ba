// The embedded dev/test stack (Kafka KRaft from the Maven jars, Redis and Prometheus from Debian) as
// detached processes on 127.0.0.1 with state under the state dir; used by `stoq up|down|status` and tests.
import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from "@platformatic/kafka";
import { renderAlertRules, type AlertThresholds } from "./alert-rules.js";
import { StoqError } from "./errors.js";
import { renderPrometheusConfig } from "./prometheus-config.js";
import { pruneStaleScrapeTargets, scrapeTargetsDir } from "./scrape-targets.js";
import { REPO_ROOT, stackEndpoints, type StackEndpoints } from "./stack-endpoints.js";
import { TOPIC_SPECS, type TopicSpec } from "./topics.js";

export { stackEndpoints, type StackEndpoints } from "./stack-endpoints.js";

export const COMPONENTS = ["kafka", "redis", "prometheus"] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** The jars setup.sh fetched; shared by every state dir, so a private test stack needs no second copy. */
export const KAFKA_LIBS_DIR = path.join(REPO_ROOT, ".stoq", "kafka", "libs");
const LOG4J_CONFIG = path.join(REPO_ROOT, "deploy", "stack", "log4j2.properties");
/** Modest heap: the broker shares 2 cores and memory with everything else on a dev machine. */
const KAFKA_HEAP = ["-Xms256m", "-Xmx768m"];
const LOG_ROTATE_BYTES = 50 * 1024 * 1024;

export interface ComponentStatus {
  readonly name: ComponentName;
  /** Our process for this component, or null when none of ours is running. */
  readonly pid: number | null;
  readonly port: number;
  readonly healthy: boolean;
  /** Why it is unhealthy, or what answered when healthy. */
  readonly detail: string;
  readonly log: string;
}

export interface StackOptions {
  readonly endpoints?: StackEndpoints;
  /** Per-component start-up deadline. */
  readonly timeoutMs?: number;
  /** Progress lines for a person; defaults to silence. */
  readonly progress?: (line: string) => void;
}

export interface UpOptions extends StackOptions {
  readonly alertThresholds: AlertThresholds;
  readonly topics?: readonly TopicSpec[];
}

export interface UpResult {
  readonly started: ComponentName[];
  readonly alreadyRunning: ComponentName[];
  readonly topicsCreated: string[];
  readonly topicsUpdated: string[];
  readonly elapsedMs: number;
}

interface Paths {
  readonly dir: string;
  readonly pidFile: string;
  readonly log: string;
}

function paths(ep: StackEndpoints, name: ComponentName): Paths {
  return {
    dir: path.join(ep.stateDir, name),
    pidFile: path.join(ep.stateDir, "run", `${name}.pid`),
    log: path.join(ep.stateDir, "logs", `${name}.log`),
  };
}

function portsOf(ep: StackEndpoints, name: ComponentName): number[] {
  switch (name) {
    case "kafka":
      return [ep.ports.kafka, ep.ports.kafkaController];
    case "redis":
      return [ep.ports.redis];
    case "prometheus":
      return [ep.ports.prometheus];
  }
}

// ---- processes ----------------------------------------------------------------------------------

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

// Every component runs with its working directory inside the state dir (Redis even chdirs there itself),
// so a pid in a pid file is ours only if its cwd is that directory: a recycled pid is not mistaken for it.
function ownedPid(ep: StackEndpoints, name: ComponentName): number | null {
  const { pidFile, dir } = paths(ep, name);
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, "utf8").trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  try {
    if (fs.readlinkSync(`/proc/${pid}/cwd`) !== dir) return null;
  } catch {
    return null;
  }
  return pid;
}

/** Describes whoever listens on a TCP port of 127.0.0.1 (or all addresses), or null when nobody does. */
function portHolder(port: number): string | null {
  let out: string;
  try {
    out = execFileSync("ss", ["-Hltnp", `sport = :${port}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return null;
  }
  const line = out.split("\n").find((l) => l.trim() !== "");
  if (line === undefined) return null;
  const proc = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
  return proc ? `${proc[1]} (pid ${proc[2]})` : "another process";
}

function tailOf(file: string, lines = 15): string {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.split("\n").slice(-lines - 1).join("\n").trim();
  } catch {
    return "(no log)";
  }
}

function launch(ep: StackEndpoints, name: ComponentName, cmd: string, args: string[]): number {
  const p = paths(ep, name);
  fs.mkdirSync(path.dirname(p.pidFile), { recursive: true });
  fs.mkdirSync(path.dirname(p.log), { recursive: true });
  fs.mkdirSync(p.dir, { recursive: true });
  // One generation of rotation at start-up keeps a long-lived dev machine's logs bounded.
  if ((fs.statSync(p.log, { throwIfNoEntry: false })?.size ?? 0) > LOG_ROTATE_BYTES) fs.renameSync(p.log, `${p.log}.1`);
  const fd = fs.openSync(p.log, "a");
  fs.writeSync(fd, `\n==== stoq up: starting ${name} at ${new Date().toISOString()}: ${cmd} ${args.join(" ")}\n`);
  // Detached into its own session so the stack outlives the `stoq up` that started it.
  const child = spawn(cmd, args, { cwd: p.dir, detached: true, stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  if (child.pid === undefined) {
    throw new StoqError("STACK_START_FAILED", `${name}: could not start ${cmd} (is it installed? run scripts/setup.sh)`);
  }
  child.on("error", () => undefined);
  child.unref();
  fs.writeFileSync(p.pidFile, `${child.pid}\n`);
  return child.pid;
}

// ---- health checks ------------------------------------------------------------------------------

async function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function redisPing(port: number, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    sock.setTimeout(ms, () => sock.destroy(new Error(`no answer within ${ms} ms`)));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString("utf8");
      if (buf.includes("\r\n")) {
        sock.end();
        if (buf.startsWith("+PONG")) resolve("PONG");
        else reject(new Error(`answered ${JSON.stringify(buf.trim())} to PING`));
      }
    });
    sock.on("error", reject);
  });
}

async function prometheusReady(port: number, ms: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(ms) });
  if (res.status !== 200) throw new Error(`/-/ready answered HTTP ${res.status}`);
  return "ready";
}

async function kafkaMetadata(port: number, ms: number): Promise<string> {
  const admin = new Admin({ clientId: "stoq-stack", bootstrapBrokers: [`127.0.0.1:${port}`], retries: 0, timeout: ms });
  try {
    const md = await withTimeout("metadata", ms, admin.metadata({ topics: [] }));
    if (md.brokers.size === 0) throw new Error("metadata lists no broker");
    return `cluster ${md.id}, ${md.brokers.size} broker`;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

function probe(ep: StackEndpoints, name: ComponentName, ms: number): Promise<string> {
  switch (name) {
    case "kafka":
      return kafkaMetadata(ep.ports.kafka, ms);
    case "redis":
      return redisPing(ep.ports.redis, ms);
    case "prometheus":
      return prometheusReady(ep.ports.prometheus, ms);
  }
}

async function waitHealthy(ep: StackEndpoints, name: ComponentName, pid: number, deadlineMs: number): Promise<void> {
  const { log } = paths(ep, name);
  const start = Date.now();
  let last = "not probed yet";
  while (Date.now() - start < deadlineMs) {
    if (!isAlive(pid)) {
      throw new StoqError(
        "STACK_START_FAILED",
        `${name} (pid ${pid}) exited during start-up; log: ${log}\n--- last lines ---\n${tailOf(log)}`,
      );
    }
    try {
      await probe(ep, name, 2000);
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(250);
  }
  throw new StoqError(
    "STACK_START_FAILED",
    `${name} (pid ${pid}) not healthy after ${deadlineMs} ms on port ${portsOf(ep, name).join("/")}: ${last}; log: ${log}`,
  );
}

// ---- component start-up -------------------------------------------------------------------------

function kafkaProperties(ep: StackEndpoints, dataDir: string): string {
  const { kafka, kafkaController } = ep.ports;
  const props: Record<string, string | number> = {
    "process.roles": "broker,controller",
    "node.id": 1,
    "controller.quorum.voters": `1@127.0.0.1:${kafkaController}`,
    listeners: `PLAINTEXT://127.0.0.1:${kafka},CONTROLLER://127.0.0.1:${kafkaController}`,
    "advertised.listeners": `PLAINTEXT://127.0.0.1:${kafka}`,
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "log.dirs": dataDir,
    "num.partitions": 1,
    // One node: every internal topic must accept a single replica, or transactions and groups never start.
    "offsets.topic.replication.factor": 1,
    "transaction.state.log.replication.factor": 1,
    "transaction.state.log.min.isr": 1,
    "share.coordinator.state.topic.replication.factor": 1,
    "share.coordinator.state.topic.min.isr": 1,
    // Tests create groups constantly; the default 3 s join delay would be paid by every one of them.
    "group.initial.rebalance.delay.ms": 0,
    "log.retention.check.interval.ms": 300000,
  };
  return Object.entries(props).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}

function javaArgs(ep: StackEndpoints, mainClass: string, args: string[]): string[] {
  const jars = fs.existsSync(KAFKA_LIBS_DIR) ? fs.readdirSync(KAFKA_LIBS_DIR) : [];
  if (!jars.some((j) => j.startsWith("kafka_2.13-"))) {
    throw new StoqError("STACK_START_FAILED", `kafka: jars missing in ${KAFKA_LIBS_DIR}; run scripts/setup.sh`);
  }
  return [
    ...KAFKA_HEAP,
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    `-Dkafka.logs.dir=${path.join(ep.stateDir, "logs")}`,
    "-cp",
    `${KAFKA_LIBS_DIR}/*`,
    mainClass,
    ...args,
  ];
}

async function startKafka(ep: StackEndpoints): Promise<number> {
  const { dir } = paths(ep, "kafka");
  const dataDir = path.join(dir, "data");
  const config = path.join(dir, "server.properties");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(config, kafkaProperties(ep, dataDir));
  // KRaft storage is formatted exactly once: formatting again would give the log a new cluster id.
  if (!fs.existsSync(path.join(dataDir, "meta.properties"))) {
    const clusterId = randomBytes(16).toString("base64url");
    try {
      await promisify(execFile)("java", javaArgs(ep, "kafka.tools.StorageTool", ["format", "-t", clusterId, "-c", config]), {
        cwd: dir,
        encoding: "utf8",
      });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new StoqError(
        "STACK_START_FAILED",
        `kafka: formatting storage in ${dataDir} failed: ${(err.stderr || err.stdout || err.message).trim()}`,
        { cause: e },
      );
    }
  }
  return launch(ep, "kafka", "java", javaArgs(ep, "kafka.Kafka", [config]));
}

function startRedis(ep: StackEndpoints): Promise<number> {
  const { dir } = paths(ep, "redis");
  fs.mkdirSync(dir, { recursive: true });
  // Its own config on the command line; the Debian /etc/redis/redis.conf and its service are not used.
  return Promise.resolve(launch(ep, "redis", "redis-server", [
    "--bind", "127.0.0.1",
    "--port", String(ep.ports.redis),
    "--dir", dir,
    "--daemonize", "no",
    "--logfile", "",
    "--protected-mode", "yes",
    "--appendonly", "no",
  ]));
}

/** Writes prometheus.yml and the rules; returns true when either changed on disk. */
function writePrometheusConfig(ep: StackEndpoints, thresholds: AlertThresholds): boolean {
  const { dir } = paths(ep, "prometheus");
  fs.mkdirSync(path.join(dir, "rules"), { recursive: true });
  fs.mkdirSync(scrapeTargetsDir(ep.stateDir), { recursive: true });
  const files: [string, string][] = [
    [
      path.join(dir, "prometheus.yml"),
      renderPrometheusConfig({ targetsDir: scrapeTargetsDir(ep.stateDir), rulesDir: path.join(dir, "rules"), selfPort: ep.ports.prometheus }),
    ],
    [path.join(dir, "rules", "stoq-alerts.yml"), renderAlertRules(thresholds)],
  ];
  let changed = false;
  for (const [file, text] of files) {
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
    if (old !== text) {
      fs.writeFileSync(file, text);
      changed = true;
    }
  }
  return changed;
}

function startPrometheus(ep: StackEndpoints): Promise<number> {
  const { dir } = paths(ep, "prometheus");
  return Promise.resolve(launch(ep, "prometheus", "prometheus", [
    `--config.file=${path.join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${path.join(dir, "data")}`,
    "--storage.tsdb.retention.time=2d",
    `--web.listen-address=127.0.0.1:${ep.ports.prometheus}`,
    // Lets a later `stoq up` reload changed rules without a restart.
    "--web.enable-lifecycle",
  ]));
}

const STARTERS: Record<ComponentName, (ep: StackEndpoints) => Promise<number>> = {
  kafka: startKafka,
  redis: startRedis,
  prometheus: startPrometheus,
};

// ---- topics -------------------------------------------------------------------------------------

/**
 * Creates missing topics, raises partition counts that are too low and sets configs that differ, so a
 * second call finds nothing to do. Returns the names it created and the names it changed.
 */
export async function ensureTopics(
  brokers: string[],
  specs: readonly TopicSpec[] = TOPIC_SPECS,
): Promise<{ created: string[]; updated: string[] }> {
  const admin = new Admin({ clientId: "stoq-stack", bootstrapBrokers: brokers, timeout: 10000 });
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    await Promise.all(
      missing.map((s) =>
        admin.createTopics({
          topics: [s.name],
          partitions: s.partitions,
          replicas: 1,
          configs: Object.entries(s.config).map(([name, value]) => ({ name, value })),
        }),
      ),
    );

    const present = specs.filter((s) => existing.has(s.name));
    const updated = new Set<string>();
    if (present.length > 0) {
      const live = await admin.metadata({ topics: present.map((s) => s.name), forceUpdate: true });
      const grow = present.filter((s) => (live.topics.get(s.name)?.partitionsCount ?? 0) < s.partitions);
      if (grow.length > 0) {
        await admin.createPartitions({ topics: grow.map((s) => ({ name: s.name, count: s.partitions })) });
        grow.forEach((s) => updated.add(s.name));
      }
      const described = await admin.describeConfigs({
        resources: present.map((s) => ({
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: s.name,
          configurationKeys: Object.keys(s.config),
        })),
      });
      const alter = present.flatMap((s) => {
        const have = described.find((d) => d.resourceName === s.name)?.configs ?? [];
        const diff = Object.entries(s.config).filter(([k, v]) => have.find((c) => c.name === k)?.value !== v);
        if (diff.length === 0) return [];
        updated.add(s.name);
        return [{
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: s.name,
          configs: diff.map(([name, value]) => ({ name, value, configOperation: IncrementalAlterConfigOperationTypes.SET })),
        }];
      });
      if (alter.length > 0) await admin.incrementalAlterConfigs({ resources: alter });
    }
    return { created: missing.map((s) => s.name), updated: [...updated] };
  } finally {
    await admin.close().catch(() => undefined);
  }
}

// ---- public operations --------------------------------------------------------------------------

/**
 * Starts every component that is not already running (ours, healthy), waits until all answer, then
 * ensures the topics. Running it on a healthy stack changes nothing and takes about a second.
 */
export async function stackUp(opts: UpOptions): Promise<UpResult> {
  const t0 = Date.now();
  const ep = opts.endpoints ?? stackEndpoints();
  const timeoutMs = opts.timeoutMs ?? 60000;
  const say = opts.progress ?? (() => undefined);
  fs.mkdirSync(ep.stateDir, { recursive: true });
  const pruned = pruneStaleScrapeTargets(ep.stateDir);
  if (pruned.length > 0) say(`removed ${pruned.length} scrape target(s) left by dead processes`);
  const promConfigChanged = writePrometheusConfig(ep, opts.alertThresholds);

  const pids = new Map<ComponentName, number>();
  for (const name of COMPONENTS) {
    const pid = ownedPid(ep, name);
    if (pid !== null) pids.set(name, pid);
  }
  const alreadyRunning = COMPONENTS.filter((name) => pids.has(name));
  const started = COMPONENTS.filter((name) => !pids.has(name));
  // Every port is checked before anything starts, so a conflict leaves no half-started stack behind.
  for (const name of started) {
    for (const port of portsOf(ep, name)) {
      const holder = portHolder(port);
      if (holder !== null) {
        // Debian's own redis-server / prometheus services are the usual squatters on 6379 / 9090.
        const service = /^(redis-server|prometheus) /.exec(holder)?.[1];
        const hint = service === undefined ? "stop it" : `stop it (if it is Debian's service: systemctl disable --now ${service}, or service ${service} stop)`;
        throw new StoqError(
          "STACK_START_FAILED",
          `${name}: port 127.0.0.1:${port} is already in use by ${holder}, which this stack did not start; ` +
            `${hint}, or choose other ports with STOQ_KAFKA_PORT / STOQ_REDIS_PORT / STOQ_PROMETHEUS_PORT`,
        );
      }
    }
  }
  // In parallel: Kafka's first start formats its storage in a JVM of its own, which takes seconds.
  await Promise.all(
    COMPONENTS.map(async (name) => {
      if (started.includes(name)) {
        say(`starting ${name} on 127.0.0.1:${portsOf(ep, name).join("/")} (log ${paths(ep, name).log})`);
        pids.set(name, await STARTERS[name](ep));
      }
      await waitHealthy(ep, name, pids.get(name) ?? 0, timeoutMs);
      if (started.includes(name)) say(`${name} healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }),
  );

  if (promConfigChanged && alreadyRunning.includes("prometheus")) {
    const res = await fetch(`${ep.prometheusUrl}/-/reload`, { method: "POST", signal: AbortSignal.timeout(10000) });
    if (!res.ok) {
      throw new StoqError("STACK_START_FAILED", `prometheus: reloading the new config failed: HTTP ${res.status} ${await res.text()}`);
    }
    say("prometheus: config or alert rules changed, reloaded");
  }

  const topics = await ensureTopics(ep.brokers, opts.topics ?? TOPIC_SPECS);
  if (topics.created.length > 0) say(`created topics: ${topics.created.join(", ")}`);
  if (topics.updated.length > 0) say(`updated topics: ${topics.updated.join(", ")}`);
  return { started, alreadyRunning, topicsCreated: topics.created, topicsUpdated: topics.updated, elapsedMs: Date.now() - t0 };
}

/** Stops our processes (SIGTERM, then SIGKILL after the timeout); returns the components it stopped. */
export async function stackDown(opts: StackOptions = {}): Promise<ComponentName[]> {
  const ep = opts.endpoints ?? stackEndpoints();
  const timeoutMs = opts.timeoutMs ?? 30000;
  const say = opts.progress ?? (() => undefined);
  const stopped: ComponentName[] = [];
  // Prometheus first so it does not record the others going away as an outage; Kafka last, it is slowest.
  await Promise.all(
    [...COMPONENTS].reverse().map(async (name) => {
      const pid = ownedPid(ep, name);
      const { pidFile } = paths(ep, name);
      if (pid === null) {
        fs.rmSync(pidFile, { force: true });
        return;
      }
      say(`stopping ${name} (pid ${pid})`);
      process.kill(pid, "SIGTERM");
      const t0 = Date.now();
      while (isAlive(pid) && Date.now() - t0 < timeoutMs) await sleep(100);
      if (isAlive(pid)) {
        say(`${name} did not stop within ${timeoutMs} ms; killing it`);
        process.kill(pid, "SIGKILL");
        while (isAlive(pid)) await sleep(50);
      }
      fs.rmSync(pidFile, { force: true });
      stopped.push(name);
    }),
  );
  return stopped;
}

/** One row per component: our pid (if running), its port, and whether it answers its health probe. */
export async function stackStatus(opts: StackOptions = {}): Promise<ComponentStatus[]> {
  const ep = opts.endpoints ?? stackEndpoints();
  const ms = opts.timeoutMs ?? 3000;
  return Promise.all(
    COMPONENTS.map(async (name): Promise<ComponentStatus> => {
      const pid = ownedPid(ep, name);
      const port = portsOf(ep, name)[0] ?? 0;
      const log = paths(ep, name).log;
      if (pid === null) {
        const holder = portHolder(port);
        const detail = holder === null ? "not running" : `not running; port held by ${holder}, not ours`;
        return { name, pid, port, healthy: false, detail, log };
      }
      try {
        return { name, pid, port, healthy: true, detail: await probe(ep, name, ms), log };
      } catch (e) {
        return { name, pid, port, healthy: false, detail: (e as Error).message, log };
      }
    }),
  );
}
