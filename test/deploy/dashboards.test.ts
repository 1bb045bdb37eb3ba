// The Grafana dashboards of deploy/grafana against what STOQ really exports and writes: every Prometheus
// panel's query runs on the stack's Prometheus and names only metrics the services register, and every
// Redis panel's command runs on real Redis against keys the aggregator's Redis sink and the detector's
// state store wrote there in this test.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { collectDefaultMetrics, register } from "prom-client";
import { parse as parseYaml } from "yaml";
import { renderAlertRules } from "../../lib/src/alert-rules.js";
import { encode, type Anomaly, type WindowAggregate } from "../../lib/src/avro.js";
import { loadConfig } from "../../lib/src/config.js";
import { createAdmin, createProducer } from "../../lib/src/kafka.js";
import { REPO_ROOT, stackEndpoints } from "../../lib/src/stack-endpoints.js";
import { windowAggregate } from "../../lib/test/window-aggregate.js";
// Importing the services registers every metric they export in prom-client's default registry.
import "../../services/collector/src/index.js";
import "../../services/aggregator/src/index.js";
import "../../services/detector/src/index.js";
import "../../services/trainer/src/index.js";
import { streamDimensions } from "../../services/aggregator/src/partition-aggregation.js";
import { createRedisSink, redisKeys, windowName } from "../../services/aggregator/src/redis-sink.js";
import { aggregatorSettings } from "../../services/aggregator/src/settings.js";
import { Fusion } from "../../services/detector/src/fusion.js";
import { StateStore } from "../../services/detector/src/state-store.js";

const GRAFANA = path.join(REPO_ROOT, "deploy/grafana");
const endpoints = stackEndpoints();

interface Target {
  readonly refId: string;
  readonly datasource?: { readonly uid: string };
  readonly expr?: string;
  readonly type?: string;
  readonly command?: string;
  readonly keyName?: string;
  readonly field?: string;
  readonly query?: string;
  readonly min?: string;
  readonly max?: string;
  readonly zrangeQuery?: string;
}
interface Panel {
  readonly type: string;
  readonly title?: string;
  readonly datasource?: { readonly uid: string };
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: string } };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly datasource?: { readonly uid: string };
  readonly query: string | { readonly query: string };
  readonly regex?: string;
  readonly allValue?: string;
}
interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

const dashboards: { file: string; d: Dashboard }[] = fs
  .readdirSync(path.join(GRAFANA, "dashboards"))
  .filter((f) => f.endsWith(".json"))
  .map((f) => ({ file: f, d: JSON.parse(fs.readFileSync(path.join(GRAFANA, "dashboards", f), "utf8")) as Dashboard }));

const datasources = (parseYaml(fs.readFileSync(path.join(GRAFANA, "provisioning/datasources/stoq.yaml"), "utf8")) as { datasources: { uid: string; type: string }[] }).datasources;
const dsType = new Map(datasources.map((d) => [d.uid, d.type]));

/** Every panel, rows' children included (a collapsed row holds its panels). */
function panelsOf(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => (p.type === "row" ? [...(p.panels ?? [])] : [p]));
}

const varQuery = (v: Variable): string => (typeof v.query === "string" ? v.query : v.query.query);

// ---------------------------------------------------------------------------------------------------
// What the services export: their registrations in prom-client's default registry, the process metrics
// service-runtime.ts turns on, and the series Prometheus itself adds to every target.

collectDefaultMetrics();
const PROMETHEUS_SERIES = ["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"];

async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set(PROMETHEUS_SERIES);
  for (const m of await register.getMetricsAsJSON()) {
    const type = String(m.type);
    const suffixes = type === "histogram" ? ["_bucket", "_sum", "_count"] : type === "summary" ? ["", "_sum", "_count"] : [""];
    for (const s of suffixes) names.add(m.name + s);
  }
  return names;
}

// PromQL words that are not metric names: aggregations, functions (followed by "("), keywords.
const PROMQL_WORDS = new Set([
  "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
  "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool", "inf", "nan",
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or literals. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ") // label lists
    .replace(/\boffset\s+-?\d+\w*/g, " ");
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice((m.index ?? 0) + m[0].length).trimStart();
    if (after.startsWith("(") || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    const before = stripped.slice(0, m.index ?? 0);
    if (/\d$/.test(before)) continue; // the unit of a number such as 1e3 or 5m
    names.push(m[0]);
  }
  return names;
}

async function prometheus(pathAndQuery: string): Promise<{ status: string; data: unknown; error?: string }> {
  const res = await fetch(`${endpoints.prometheusUrl}${pathAndQuery}`);
  return (await res.json()) as { status: string; data: unknown; error?: string };
}

/** Grafana's built-in variables, with values as Grafana would give them for a one-hour range. */
function builtins(text: string): string {
  const to = Date.now();
  return text
    .replaceAll("$__rate_interval", "1m")
    .replaceAll("$__interval", "15s")
    .replaceAll("$__range", "1h")
    .replaceAll("${__from}", String(to - 3_600_000))
    .replaceAll("${__to}", String(to));
}

function substitute(text: string, values: ReadonlyMap<string, string>): string {
  let out = builtins(text);
  for (const [name, value] of values) out = out.replaceAll(`\${${name}}`, value).replaceAll(`$${name}`, value);
  return out;
}

const regexEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// ---------------------------------------------------------------------------------------------------

describe("every dashboard panel says what it shows, in which unit, from a provisioned data source", () => {
  test("three dashboards: fleet overview, pipeline, detections", () => {
    assert.deepEqual(dashboards.map((x) => x.d.uid).sort(), ["stoq-detections", "stoq-fleet", "stoq-pipeline"]);
    assert.equal(new Set(dashboards.map((x) => x.d.uid)).size, dashboards.length);
  });

  for (const { file, d } of dashboards) {
    test(`${file}: titles, units, targets, data sources`, () => {
      const panels = panelsOf(d);
      assert.ok(panels.length >= 8, `${file} has ${panels.length} panels`);
      for (const p of panels) {
        const where = `${file} panel "${p.title ?? "(untitled)"}"`;
        assert.ok((p.title ?? "").trim().length >= 10, `${where}: a title that says what it shows`);
        assert.ok((p.fieldConfig?.defaults?.unit ?? "").length > 0, `${where}: a unit`);
        assert.ok((p.targets ?? []).length > 0, `${where}: at least one query`);
        for (const t of p.targets ?? []) {
          const uid = t.datasource?.uid ?? p.datasource?.uid ?? "";
          assert.ok(dsType.has(uid), `${where}: data source ${uid} is provisioned`);
        }
      }
      for (const v of d.templating.list) {
        if (v.datasource !== undefined) assert.ok(dsType.has(v.datasource.uid), `${file} variable ${v.name}: provisioned data source`);
      }
    });
  }

  test("the provisioned dashboards path is where docker-compose mounts deploy/grafana/dashboards", () => {
    const provider = (parseYaml(fs.readFileSync(path.join(GRAFANA, "provisioning/dashboards/stoq.yaml"), "utf8")) as { providers: { options: { path: string } }[] }).providers[0];
    const compose = fs.readFileSync(path.join(REPO_ROOT, "docker-compose.yml"), "utf8");
    assert.ok(provider !== undefined);
    assert.ok(compose.includes(`./deploy/grafana/dashboards:${provider.options.path}:ro`), "docker-compose mounts the dashboards at the provider's path");
    assert.ok(compose.includes("./deploy/grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro"));
    assert.ok(compose.includes("./deploy/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro"));
  });
});

describe("Prometheus panels run on the real Prometheus and read only exported metrics", () => {
  let exported: Set<string>;
  const values = new Map<string, string>();

  before(async () => {
    exported = await exportedMetricNames();
  });

  test("the registry holds the services' metrics, each with bounded labels", () => {
    for (const n of ["stoq_kernel_stat_total", "stoq_aggregator_window_emissions_total", "stoq_anomalies_total", "stoq_trainer_validation_auc", "process_resident_memory_bytes"]) {
      assert.ok(exported.has(n), `${n} registered`);
    }
    // Per-domain, per-address or per-entity labels would make a series per key; those belong in Redis.
    const unbounded = new Set(["domain", "registered_domain", "qname", "key", "source", "destination", "address", "entity", "flow", "sni"]);
    for (const m of register.getMetricsAsArray()) {
      const labelNames = (m as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
      for (const l of labelNames) assert.ok(!unbounded.has(l), `${(m as unknown as { name: string }).name} has per-key label ${l}`);
    }
  });

  test("the alert rules (rendered from the config, and the copy in deploy/) parse and read only exported metrics", async () => {
    const rendered = renderAlertRules(loadConfig().monitoring.alert_thresholds);
    const deployed = fs.readFileSync(path.join(REPO_ROOT, "deploy/prometheus/rules/stoq-alerts.yml"), "utf8");
    assert.equal(deployed, rendered, "deploy/prometheus/rules/stoq-alerts.yml is `bin/stoq rules` output for config/stoq.yaml");
    const doc = parseYaml(rendered) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    assert.equal(rules.length, 4);
    for (const r of rules) {
      const q = await prometheus(`/api/v1/query?query=${encodeURIComponent(r.expr)}`);
      assert.equal(q.status, "success", `${r.alert}: ${r.expr}: ${q.error ?? ""}`);
      for (const n of metricNames(r.expr)) assert.ok(exported.has(n), `${r.alert}: ${n} is not a metric any STOQ service exports`);
    }
  });

  test("metricNames finds metric names and nothing else", () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.99, sum by (le, job) (rate(a_seconds_bucket{job=~"x|y", le!="1"}[5m] offset 1h))) > 1e-4 and on (job) b_total unless c:d'),
      ["a_seconds_bucket", "b_total", "c:d"],
    );
    assert.deepEqual(metricNames("max(stoq_x) / ignoring (k) group_left (z) count without (a) (up)"), ["stoq_x", "up"]);
  });

  for (const { file, d } of dashboards) {
    const promVars = d.templating.list.filter((v) => v.type === "query" && dsType.get(v.datasource?.uid ?? "") === "prometheus");
    const promPanels = panelsOf(d).filter((p) => dsType.get(p.datasource?.uid ?? "") === "prometheus");
    if (promVars.length === 0 && promPanels.length === 0) continue;

    test(`${file}: template variables resolve to a value Prometheus has (or their "All" value)`, async () => {
      for (const v of promVars) {
        const m = /^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(varQuery(v).trim());
        assert.ok(m?.[1] !== undefined && m[2] !== undefined, `${file} variable ${v.name}: label_values(selector, label)`);
        const selector = m[1];
        for (const n of metricNames(selector)) assert.ok(exported.has(n), `${file} variable ${v.name}: ${n} is not a metric any STOQ service exports`);
        const r = await prometheus(`/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(selector)}`);
        assert.equal(r.status, "success", `${file} variable ${v.name}: ${r.error ?? ""}`);
        const found = (r.data as string[])[0];
        // With nothing scraped yet, the variable's "All" value is what Grafana would send.
        values.set(v.name, found === undefined ? (v.allValue ?? ".*") : regexEscape(found));
      }
    });

    test(`${file}: every query parses on Prometheus and names only exported metrics`, async () => {
      let checked = 0;
      for (const p of promPanels) {
        for (const t of p.targets ?? []) {
          const where = `${file} "${p.title ?? ""}" ${t.refId}`;
          assert.ok(t.expr !== undefined && t.expr.trim() !== "", `${where}: an expression`);
          const expr = substitute(t.expr, values);
          assert.doesNotMatch(expr, /\$/, `${where}: every variable substituted`);
          const r = await prometheus(`/api/v1/query?query=${encodeURIComponent(expr)}`);
          assert.equal(r.status, "success", `${where}: ${expr}: ${r.error ?? ""}`);
          const names = metricNames(expr);
          assert.ok(names.length > 0, `${where}: reads a metric`);
          for (const n of names) assert.ok(exported.has(n), `${where}: ${n} is not a metric any STOQ service exports`);
          checked++;
        }
      }
      assert.ok(checked > 0);
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// Redis: the real sinks write, then every Redis panel and variable runs its command as the plugin would.

describe("Redis panels read keys the aggregator's sink and the detector's state store write", { timeout: 90_000 }, () => {
  const run = randomUUID().slice(0, 8);
  const prefix = `test:${run}:`;
  const kafka = { brokers: endpoints.brokers, clientId: "dashboards-test" };
  const topic = `test.dash.${run}.aggregates`;
  const admin = createAdmin(kafka);
  const writer = new Redis(endpoints.redisUrl, { keyPrefix: prefix });
  // Grafana's data source has no key prefix: the dashboards put ${prefix} in front themselves.
  const raw = new Redis(endpoints.redisUrl);
  const config = loadConfig({ path: path.join(REPO_ROOT, "config/stoq.yaml"), env: {} });
  const settings = aggregatorSettings({
    windowSizes: config.statistical_analysis.window_sizes,
    maxDomainsTracked: config.statistical_analysis.dns_pattern_analysis.max_domains_tracked,
    concurrentFlowsLimit: config.performance.concurrent_flows_limit,
  });
  const start = Math.floor(Date.now() / 3_600_000) * 3_600_000;

  before(async () => {
    // One row per window, input stream and dimension the aggregator keeps at that size, as it would publish them.
    const rows: WindowAggregate[] = settings.windows.flatMap((w) =>
      (["dns", "flow"] as const).flatMap((stream) => streamDimensions(stream, w.dimensions).map((dimension) => windowAggregate({
        window_start_ms: start,
        window_end_ms: start + w.sizeMs,
        size_ms: w.sizeMs,
        hop_ms: w.hopMs,
        kind: w.hopMs === w.sizeMs ? ("tumbling" as const) : ("hopping" as const),
        dimension,
        key: dimension === "global" ? "" : dimension === "registered_domain" ? "example.com" : "198.18.0.1",
        stream,
        count: 5,
        rate_per_s: 5000 / w.sizeMs,
        final: true,
        aggregator_instance: stream === "dns" ? "stoq.dns.v1/0" : "stoq.flows.v1/0",
      }))),
    );
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const producer = createProducer(kafka);
    await producer.send(topic, rows.map((r) => ({ value: encode("WindowAggregate", r) })));
    await producer.close();
    const sink = createRedisSink({ kafka, redis: writer, topic, groupId: `test.dash.${run}.sink`, ttlSeconds: () => 600 });
    await sink.start();
    const last = rows.at(-1);
    assert.ok(last !== undefined);
    const lastKey = redisKeys.series(last.stream ?? "dns", windowName(last), last.dimension, last.key);
    const deadline = Date.now() + 60_000;
    while ((await writer.exists(lastKey)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await sink.close();

    const anomaly: Anomaly = {
      id: `dash-${run}`,
      detector: "dns.tunnel",
      entity_type: "registered_domain",
      entity: "example.com",
      window_start_ms: start,
      window_end_ms: start + 60_000,
      score: 0.9,
      z_score: null,
      threat_level: "high",
      confidence: 0.8,
      evidence: [{ name: "query_rate", value: 12, unit: "1/s", detail: null }],
      recommendation: "block",
      detected_at_ms: Date.now() - 1000,
      model_version: null,
    };
    const store = new StateStore(writer, { anomalyTtlSeconds: 600, threatTtlSeconds: 600 });
    await store.write([anomaly], [new Fusion({ horizonMs: 3_600_000, maxEntities: 10 }).add(anomaly)]);
    await store.writeQuality({ falsePositiveRate: 0.01, falseNegativeRate: 0.2, labelled: 10, truePositives: 8, falsePositives: 1, falseNegatives: 2 });
    await store.writeBandwidth({ horizonMs: 60_000, coverage: 0.95, atMs: Date.now(), predictedBps: 1e6, lowerBps: 5e5, upperBps: 2e6, currentBps: 9e5, history: 30, method: "holt" });
  });

  after(async () => {
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
    writer.disconnect();
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.close();
  });

  /** Splits a CLI query as the plugin does (on white space; the dashboards quote nothing). */
  const words = (q: string): string[] => q.trim().split(/\s+/);

  /** Runs one target as the redis-datasource plugin would and returns its values (empty: nothing there). */
  async function runTarget(t: Target, vars: ReadonlyMap<string, string>): Promise<unknown[]> {
    if (t.type === "cli" || (t.query ?? "") !== "") {
      const [cmd, ...args] = words(substitute(t.query ?? "", vars));
      assert.ok(cmd !== undefined);
      const r: unknown = await raw.call(cmd, ...args);
      // A count of 0 (ZCOUNT) reads nothing, as an empty list or a missing key does.
      return Array.isArray(r) ? (r as unknown[]) : r === null || r === 0 ? [] : [r];
    }
    const key = substitute(t.keyName ?? "", vars);
    switch (t.command) {
      case "zrange":
        return raw.call("ZRANGE", key, t.min ?? "0", t.max ?? "-1", ...(t.zrangeQuery ? [t.zrangeQuery] : []), "WITHSCORES") as Promise<unknown[]>;
      case "hgetall":
        return Object.entries(await raw.hgetall(key));
      case "hget": {
        const v = await raw.hget(key, substitute(t.field ?? "", vars));
        return v === null ? [] : [v];
      }
      default:
        throw new Error(`command ${String(t.command)} not handled by this test; add it`);
    }
  }

  for (const { file, d } of dashboards) {
    const redisVars = d.templating.list.filter((v) => dsType.get(v.datasource?.uid ?? "") === "redis-datasource");
    const redisPanels = panelsOf(d).filter((p) => dsType.get(p.datasource?.uid ?? "") === "redis-datasource");
    if (redisPanels.length === 0) continue;

    test(`${file}: every variable and panel finds what the sinks wrote, for every window choice`, async () => {
      const windowVar = d.templating.list.find((v) => v.name === "window" && v.type === "custom");
      const windows = windowVar === undefined ? [""] : varQuery(windowVar).split(",").map((s) => s.trim());
      for (const w of windows) {
        // Variables in dashboard order, each from the values of those before it, as Grafana resolves them.
        const vars = new Map<string, string>([["prefix", prefix], ["window", w]]);
        for (const v of redisVars) {
          const got = (await runTarget({ refId: v.name, type: "cli", query: varQuery(v) }, vars)).map(String);
          const re = v.regex ? new RegExp(v.regex.replace(/^\/|\/$/g, "")) : null;
          const options = re === null ? got : got.flatMap((s) => { const m = re.exec(s); return m ? [m[1] ?? m[0]] : []; });
          assert.ok(options.length > 0, `${file} variable ${v.name} (window ${w}): "${varQuery(v)}" found nothing the sinks wrote`);
          vars.set(v.name, options[0] ?? "");
        }
        for (const p of redisPanels) {
          for (const t of p.targets ?? []) {
            const got = await runTarget(t, vars);
            assert.ok(got.length > 0, `${file} "${p.title ?? ""}" ${t.refId} (window ${w}): ${t.keyName ?? t.query ?? ""} read nothing the sinks wrote`);
          }
        }
      }
    });
  }
});
