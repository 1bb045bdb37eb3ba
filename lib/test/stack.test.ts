// Tests of the embedded stack against the real processes: the shared stack on the STOQ_* endpoints
// (started by scripts/test.sh, or here if it is not running) and a private stack on free ports.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Admin, ConfigResourceTypes, FetchIsolationLevels, Producer } from "@platformatic/kafka";
import { Redis } from "ioredis";
import { loadConfig } from "../src/config.js";
import { isStoqError } from "../src/errors.js";
import { renderPrometheusConfig } from "../src/prometheus-config.js";
import { registerScrapeTarget } from "../src/scrape-targets.js";
import { stackDown, stackEndpoints, stackStatus, stackUp, type StackEndpoints } from "../src/stack.js";
import { TOPIC_SPECS, TOPICS } from "../src/topics.js";
import { REPO_ROOT } from "../src/stack-endpoints.js";

const run = promisify(execFile);
const ep = stackEndpoints();
/** What `stoq up` passes: the thresholds of the config in force (STOQ_CONFIG_PATH or config/stoq.yaml). */
const configThresholds = loadConfig().monitoring.alert_thresholds;
const unique = `stack-test-${process.pid}-${Date.now()}`;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function promQuery(base: string, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(body.status, "success");
  return body.data.result;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() - t0 > ms) assert.fail(`${what}: not true after ${ms} ms`);
    await sleep(500);
  }
}

describe("shared stack on the STOQ_* endpoints", () => {
  before(async () => {
    await stackUp({ alertThresholds: configThresholds, endpoints: ep });
  });

  test("a second up starts nothing, changes no topic and is fast", async () => {
    const t0 = Date.now();
    const r = await stackUp({ alertThresholds: configThresholds, endpoints: ep });
    const ms = Date.now() - t0;
    assert.deepEqual(r.started, []);
    assert.deepEqual([...r.alreadyRunning].sort(), ["kafka", "prometheus", "redis"]);
    assert.deepEqual(r.topicsCreated, []);
    assert.deepEqual(r.topicsUpdated, []);
    assert.ok(ms < 3000, `second up took ${ms} ms`);
  });

  test("status reports every component healthy with its pid and port", async () => {
    const rows = await stackStatus({ endpoints: ep });
    for (const r of rows) {
      assert.ok(r.healthy, `${r.name}: ${r.detail}`);
      assert.ok(r.pid !== null && r.pid > 0);
    }
    assert.deepEqual(
      rows.map((r) => [r.name, r.port]),
      [["kafka", ep.ports.kafka], ["redis", ep.ports.redis], ["prometheus", ep.ports.prometheus]],
    );
  });

  test("every topic exists with its partition count and configs; the model topic is compacted", async () => {
    const admin = new Admin({ clientId: unique, bootstrapBrokers: ep.brokers });
    try {
      const md = await admin.metadata({ topics: TOPIC_SPECS.map((s) => s.name), forceUpdate: true });
      for (const spec of TOPIC_SPECS) {
        assert.equal(md.topics.get(spec.name)?.partitionsCount, spec.partitions, spec.name);
      }
      const described = await admin.describeConfigs({
        resources: TOPIC_SPECS.map((s) => ({
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: s.name,
          configurationKeys: ["cleanup.policy", ...Object.keys(s.config)],
        })),
      });
      const value = (topic: string, key: string): string | null | undefined =>
        described.find((d) => d.resourceName === topic)?.configs.find((c) => c.name === key)?.value;
      for (const spec of TOPIC_SPECS) {
        for (const [k, v] of Object.entries(spec.config)) assert.equal(value(spec.name, k), v, `${spec.name} ${k}`);
      }
      assert.equal(value(TOPICS.modelUpdates, "cleanup.policy"), "compact");
      assert.equal(value(TOPICS.dns, "cleanup.policy"), "delete");
    } finally {
      await admin.close();
    }
  });

  test("the broker commits a transaction (single-replica transaction log)", async () => {
    const topic = `${unique}-txn`;
    const admin = new Admin({ clientId: unique, bootstrapBrokers: ep.brokers });
    const producer = new Producer({ clientId: unique, bootstrapBrokers: ep.brokers, transactionalId: `${unique}-txn`, idempotent: true });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      const txn = await producer.beginTransaction();
      await txn.send({ messages: [{ topic, key: Buffer.from("k"), value: Buffer.from("v") }] });
      await txn.commit();
      // The commit marker is written just after commit() returns; once it is, the last stable offset
      // (what a read_committed consumer may read up to) covers the record and the marker.
      await until("last stable offset past the commit marker", 10000, async () => {
        const offsets = await admin.listOffsets({
          topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        });
        return offsets[0]?.partitions[0]?.offset === 2n ? true : undefined;
      });
    } finally {
      await producer.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.close();
    }
  });

  test("Redis answers PING at redisUrl", async () => {
    const redis = new Redis(ep.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      assert.equal(await redis.ping(), "PONG");
    } finally {
      redis.disconnect();
    }
  });

  test("Prometheus has loaded the rendered alert rules", async () => {
    const res = await fetch(`${ep.prometheusUrl}/api/v1/rules?type=alert`);
    const body = (await res.json()) as { data: { groups: { rules: { name: string }[] }[] } };
    const names = body.data.groups.flatMap((g) => g.rules.map((r) => r.name)).sort();
    assert.deepEqual(names, ["StoqConsumerLagHigh", "StoqFalsePositiveRateHigh", "StoqLatencyP99High", "StoqThroughputDrop"]);
  });

  test("a registered scrape target is scraped by Prometheus, and dropped once unregistered", async () => {
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === "/metrics" ? 200 : 404, { "content-type": "text/plain; version=0.0.4" });
      res.end("# TYPE stoq_stack_test_value gauge\nstoq_stack_test_value 42\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const job = unique;
    const reg = registerScrapeTarget({ service: job, instance: "one", port, stateDir: ep.stateDir });
    try {
      assert.ok(fs.existsSync(reg.file));
      const up = await until("up{job} == 1", 30000, async () => {
        const r = await promQuery(ep.prometheusUrl, `up{job="${job}"}`);
        return r[0]?.value[1] === "1" ? r[0] : undefined;
      });
      assert.equal(up.metric["instance"], "one");
      const v = await promQuery(ep.prometheusUrl, `stoq_stack_test_value{job="${job}"}`);
      assert.equal(v[0]?.value[1], "42");
    } finally {
      reg.unregister();
      server.close();
    }
    assert.ok(!fs.existsSync(reg.file));
    await until("target gone from /api/v1/targets", 30000, async () => {
      const res = await fetch(`${ep.prometheusUrl}/api/v1/targets?state=active`);
      const body = (await res.json()) as { data: { activeTargets: { labels: Record<string, string> }[] } };
      return body.data.activeTargets.some((t) => t.labels["job"] === job) ? undefined : true;
    });
  });
});

describe("docker-compose's Prometheus config", () => {
  test("deploy/prometheus/prometheus.yml is the stack's config for the container's paths, and promtool accepts it", async () => {
    const file = path.join(REPO_ROOT, "deploy/prometheus/prometheus.yml");
    const rendered = renderPrometheusConfig({ targetsDir: "/etc/prometheus/targets", rulesDir: "/etc/prometheus/rules", selfPort: 9090 });
    assert.equal(fs.readFileSync(file, "utf8"), rendered);
    const { stdout } = await run("promtool", ["check", "config", "--syntax-only", file]);
    assert.match(stdout, /SUCCESS/);
  });
});

describe("a private stack on free ports and its own state dir", () => {
  let env: NodeJS.ProcessEnv;
  let priv: StackEndpoints;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "stoq-stack-"));
  const stoq = (...args: string[]) => run(path.join(REPO_ROOT, "bin/stoq"), args, { env, timeout: 120000 });

  before(async () => {
    const [kafka, controller, redis, prometheus] = [await freePort(), await freePort(), await freePort(), await freePort()];
    env = {
      ...process.env,
      STOQ_KAFKA_PORT: String(kafka),
      STOQ_KAFKA_CONTROLLER_PORT: String(controller),
      STOQ_REDIS_PORT: String(redis),
      STOQ_PROMETHEUS_PORT: String(prometheus),
      STOQ_STATE_DIR: stateDir,
    };
    priv = stackEndpoints(env);
  });

  after(async () => {
    await stackDown({ endpoints: priv });
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test("up refuses a port held by another process, names it, and starts nothing", async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(priv.ports.redis, "127.0.0.1", resolve));
    try {
      await assert.rejects(
        stackUp({ alertThresholds: configThresholds, endpoints: priv }),
        (e: unknown) => isStoqError(e, "STACK_START_FAILED") && e.message.includes(`127.0.0.1:${priv.ports.redis}`) && e.message.includes("STOQ_REDIS_PORT"),
      );
      assert.ok((await stackStatus({ endpoints: priv })).every((r) => r.pid === null));
    } finally {
      squatter.close();
    }
  });

  test("stoq up from cold, status, a no-op second up, then down, through the CLI", async () => {
    const cold = await stoq("up");
    assert.match(cold.stdout, /started kafka, redis, prometheus/);
    assert.match(cold.stdout, /created topics: .*stoq\.model-updates\.v1/);
    assert.ok(fs.existsSync(path.join(stateDir, "kafka/data/meta.properties")), "KRaft storage formatted");

    const table = await stoq("status");
    assert.match(table.stdout, new RegExp(`kafka\\s+\\d+\\s+${priv.ports.kafka}\\s+healthy`));
    assert.match(table.stdout, new RegExp(`redis\\s+\\d+\\s+${priv.ports.redis}\\s+healthy\\s+PONG`));

    const warm = await stoq("up");
    assert.match(warm.stdout, /already running/);
    assert.doesNotMatch(warm.stdout, /created topics/);

    const down = await stoq("down");
    assert.match(down.stdout, /stopped .*kafka/);
    assert.ok((await stackStatus({ endpoints: priv })).every((r) => r.pid === null && !r.healthy));
    const failed = await stoq("status", "--quiet").catch((e: { code: number; stdout: string }) => e);
    assert.ok("code" in failed && failed.code === 1, "status --quiet exits 1 when the stack is down");
    assert.equal(failed.stdout, "");
  });

  test("a restart keeps the cluster id and the topics", async () => {
    const meta = () => fs.readFileSync(path.join(stateDir, "kafka/data/meta.properties"), "utf8");
    const before = meta();
    const r = await stackUp({ alertThresholds: configThresholds, endpoints: priv });
    assert.deepEqual(r.topicsCreated, []);
    assert.equal(meta(), before);
  });
});
