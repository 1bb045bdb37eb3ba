// Tests of lib/src/config.ts: the shipped file is the seed's configuration, every class of bad value is
// refused with its key path, value and what is allowed, env overrides apply, and secrets never print.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { inspect } from "node:util";
import { parse as parseYaml, stringify } from "yaml";
import { pino } from "pino";
import {
  DEFAULT_CONFIG_PATH,
  Secret,
  configPath,
  loadConfig,
  metricsPort,
  parseConfig,
  redactConfig,
  type StoqConfig,
} from "../src/config.js";
import { isStoqError } from "../src/errors.js";
import { CONSUMER_LAG_RECORDS, renderAlertRules } from "../src/alert-rules.js";

// The "Framework Configuration" block of the seed (stoq-integration-guide.md), verbatim.
const SEED_YAML = `
stoq_config:
  statistical_analysis:
    enabled: true
    window_sizes:
      - "1s"   # Real-time analysis
      - "1m"   # Short-term trends  
      - "1h"   # Medium-term patterns
      - "24h"  # Daily cycles
    
    dns_pattern_analysis:
      enabled: true
      max_domains_tracked: 1000000
      pattern_learning_rate: 0.01
      anomaly_threshold: 3.0
    
    network_flow_modeling:
      enabled: true
      flow_timeout: 300s
      statistical_aggregation: true
      congestion_detection: true
  
  machine_learning:
    kernel_inference:
      enabled: true
      model_type: "neural_network"
      inference_timeout_us: 20
      
    threat_detection:
      enabled: true
      threat_threshold: 0.85
      false_positive_tolerance: 0.01
      
    continuous_learning:
      enabled: true
      training_interval: "1h"
      min_training_samples: 10000
      model_validation_split: 0.2

  performance:
    target_throughput_gbps: 40.0
    max_processing_latency_us: 50
    memory_limit_mb: 2048
    concurrent_flows_limit: 1000000
    
  monitoring:
    metrics_collection: true
    detailed_logging: false
    performance_reporting: true
    alert_thresholds:
      latency_p99_us: 100
      throughput_drop_percent: 10
      false_positive_rate: 0.02
`;
const SEED_SECTIONS = ["statistical_analysis", "machine_learning", "performance", "monitoring"] as const;
const SEED = parseYaml(SEED_YAML) as { stoq_config: Record<string, unknown> };

const NO_ENV: NodeJS.ProcessEnv = {};

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "stoq-config-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A config document: the seed plus `patch` merged in at `stoq_config`. */
function doc(patch: Record<string, unknown> = {}): { stoq_config: Record<string, unknown> } {
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const cur = out[k];
      out[k] =
        v !== null && typeof v === "object" && !Array.isArray(v) && cur !== null && typeof cur === "object" && !Array.isArray(cur)
          ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
          : v;
    }
    return out;
  };
  return { stoq_config: merge(structuredClone(SEED.stoq_config), patch) };
}

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isStoqError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  assert.fail("expected an error");
}

function rejects(patch: Record<string, unknown>, expected: string | RegExp, env: NodeJS.ProcessEnv = NO_ENV): void {
  const { code, message } = errorOf(() => parseConfig(doc(patch), { env }));
  assert.equal(code, "CONFIG_INVALID");
  if (typeof expected === "string") assert.ok(message.includes(expected), `expected «${expected}» in:\n${message}`);
  else assert.match(message, expected);
}

test("the shipped config/stoq.yaml holds exactly the seed's values for every seed key", () => {
  const shipped = parseYaml(readFileSync(DEFAULT_CONFIG_PATH, "utf8")) as { stoq_config: Record<string, unknown> };
  for (const s of SEED_SECTIONS) assert.deepStrictEqual(shipped.stoq_config[s], SEED.stoq_config[s], s);

  const c = loadConfig({ path: DEFAULT_CONFIG_PATH, env: NO_ENV });
  const fromSeed = parseConfig(SEED, { env: NO_ENV });
  for (const s of SEED_SECTIONS) assert.deepStrictEqual(c[s], fromSeed[s], s);
  // Durations are milliseconds; the rest as written.
  assert.deepEqual(c.statistical_analysis.window_sizes, [1000, 60_000, 3_600_000, 86_400_000]);
  assert.equal(c.statistical_analysis.network_flow_modeling.flow_timeout, 300_000);
  assert.equal(c.machine_learning.continuous_learning.training_interval, 3_600_000);
  assert.equal(c.machine_learning.threat_detection.threat_threshold, 0.85);
  assert.equal(c.machine_learning.kernel_inference.model_type, "neural_network");
  assert.equal(c.statistical_analysis.dns_pattern_analysis.max_domains_tracked, 1_000_000);
  assert.equal(c.monitoring.alert_thresholds.false_positive_rate, 0.02);
  assert.equal(c.performance.target_throughput_gbps, 40);
});

test("defaults are the shipped values, so an empty stoq_config is the shipped configuration", () => {
  const shipped = loadConfig({ path: DEFAULT_CONFIG_PATH, env: NO_ENV });
  assert.deepStrictEqual(parseConfig({ stoq_config: {} }, { env: NO_ENV }), shipped);
  assert.deepStrictEqual(parseConfig({ stoq_config: null }, { env: NO_ENV }), shipped);
});

test("a valid file with every added section loads typed, resolved and deeply frozen", () => {
  withDir((dir) => {
    writeFileSync(join(dir, "kafka.pw"), "kafka-secret\n");
    writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
    const file = join(dir, "stoq.yaml");
    writeFileSync(
      file,
      stringify(
        doc({
          infrastructure: {
            kafka: {
              brokers: ["10.0.0.1:9092", "[2001:db8::1]:9093", "kafka-0.kafka:9094"],
              client_id: "stoq-lab",
              sasl: { mechanism: "SCRAM-SHA-512", username: "stoq", password_file: "kafka.pw" },
              tls: { ca_file: "ca.pem", servername: "kafka.lab" },
            },
            redis: { url: "rediss://redis.lab:6380/2", username: "stoq", password_env: "LAB_REDIS_PW" },
          },
          collector: { node_name: "lab-node-1", mode: "xdp", interface: "veth0", xdp_mode: "generic", enforcement: "enforce", ring_buffer_bytes: 1 << 24 },
          model: { public_key_file: "keys/model.pub" },
          aggregator: { allowed_lateness: "0ms" },
        }),
      ),
    );
    const c: StoqConfig = loadConfig({ path: file, env: { LAB_REDIS_PW: "redis-secret" } });
    assert.deepEqual(c.infrastructure.kafka.brokers, ["10.0.0.1:9092", "[2001:db8::1]:9093", "kafka-0.kafka:9094"]);
    assert.equal(c.infrastructure.kafka.sasl?.mechanism, "SCRAM-SHA-512");
    assert.equal(c.infrastructure.kafka.sasl?.password.reveal(), "kafka-secret");
    assert.equal(c.infrastructure.kafka.sasl?.password.source, `file ${join(dir, "kafka.pw")}`);
    assert.equal(c.infrastructure.kafka.tls?.ca_file, join(dir, "ca.pem"));
    assert.equal(c.infrastructure.kafka.tls?.reject_unauthorized, true);
    assert.equal(c.infrastructure.redis.password?.reveal(), "redis-secret");
    assert.equal(c.collector.mode, "xdp");
    assert.equal(c.collector.node_name, "lab-node-1");
    assert.equal(c.aggregator.instance, "lab-node-1");
    assert.equal(c.aggregator.allowed_lateness, 0);
    assert.equal(c.model.public_key_file, join(dir, "keys/model.pub"));
    assert.equal(metricsPort(c, "collector"), 9464);
    assert.equal(metricsPort(c, "trainer"), 9467);

    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.infrastructure.kafka) && Object.isFrozen(c.statistical_analysis.window_sizes));
    assert.throws(() => {
      (c.machine_learning.threat_detection as { threat_threshold: number }).threat_threshold = 0.1;
    }, TypeError);
  });
});

test("every error names the key path, the bad value and what is allowed", () => {
  rejects(
    { machine_learning: { threat_detection: { threat_threshold: 1.7 } } },
    "stoq_config.machine_learning.threat_detection.threat_threshold = 1.7 is out of range: allowed 0 < x < 1",
  );
  rejects(
    { performance: { memory_limit_mb: "lots" } },
    'stoq_config.performance.memory_limit_mb = "lots" is not an integer: allowed an integer 64 <= x <= 1048576',
  );
  rejects({ performance: { concurrent_flows_limit: 1.5 } }, "stoq_config.performance.concurrent_flows_limit = 1.5 is not an integer");
  rejects({ monitoring: { detailed_logging: "no" } }, 'stoq_config.monitoring.detailed_logging = "no" is not a boolean: allowed true or false');
  rejects(
    { machine_learning: { kernel_inference: { model_type: "svm" } } },
    'stoq_config.machine_learning.kernel_inference.model_type = "svm" is not allowed: allowed one of "neural_network"',
  );
  rejects(
    { statistical_analysis: { network_flow_modeling: { flow_timeout: 300 } } },
    /stoq_config\.statistical_analysis\.network_flow_modeling\.flow_timeout = 300 is not a duration: allowed a duration 1s <= x <= 24h, written as an integer with a unit/,
  );
  rejects({ statistical_analysis: { network_flow_modeling: { flow_timeout: "5 minutes" } } }, 'flow_timeout = "5 minutes" is not a duration');
  rejects({ machine_learning: { continuous_learning: { training_interval: "500ms" } } }, 'training_interval = "500ms" is out of range: allowed a duration 1s <= x <= 30d');
  rejects({ statistical_analysis: { window_sizes: ["1m", "1s"] } }, /window_sizes = \[ '1m', '1s' \] is not strictly ascending: allowed distinct window sizes, smallest first/);
  rejects({ statistical_analysis: { window_sizes: [] } }, "window_sizes = [] has the wrong length: allowed a list of 1..8 items");
  rejects({ statistical_analysis: { window_sizes: ["1s", "1y"] } }, 'stoq_config.statistical_analysis.window_sizes[1] = "1y" is not a duration');
  rejects({ statistical_analysis: { dns_pattern_analysis: { pattern_learning_rate: 0 } } }, "pattern_learning_rate = 0 is out of range: allowed 0 < x <= 1");
  rejects({ monitoring: { alert_thresholds: { throughput_drop_percent: 101 } } }, "throughput_drop_percent = 101 is out of range: allowed 0 < x <= 100");
  rejects({ monitoring: { alert_thresholds: { consumer_lag_records: 0 } } }, "consumer_lag_records = 0 is out of range: allowed 0 < x <= 1000000000000");
  rejects({ machine_learning: { threat_detection: null } }, "stoq_config.machine_learning.threat_detection = null is not a mapping");
  rejects({ infrastructure: { kafka: { brokers: ["localhost"] } } }, 'stoq_config.infrastructure.kafka.brokers[0] = "localhost" is not allowed: allowed "host:port"');
  rejects({ infrastructure: { kafka: { brokers: ["h:70000"] } } }, 'brokers[0] = "h:70000" has a port outside 1..65535');
  rejects({ infrastructure: { redis: { url: "redis://:hunter2@127.0.0.1:6379" } } }, /redis\.url = .* is not allowed: allowed a URL with scheme redis:\/\/ or rediss:\/\/ and no password in it/);
  rejects({ infrastructure: { redis: { url: "http://127.0.0.1:6379" } } }, "stoq_config.infrastructure.redis.url");
  rejects({ collector: { ring_buffer_bytes: 5000 } }, "ring_buffer_bytes = 5000 is not a power of two");
  rejects({ collector: { mode: "xdp" } }, 'stoq_config.collector.interface = null is not allowed: allowed an interface name when collector.mode is "xdp"');
  rejects({ collector: { enforcement: "block" } }, 'collector.enforcement = "block" is not allowed: allowed one of "observe", "shadow", "enforce"');
  rejects({ model: { hidden_units: 65 } }, "stoq_config.model.hidden_units = 65 is out of range: allowed 1 <= x <= 64");
  rejects({ model: { ngram_tld_row: "yes" } }, 'stoq_config.model.ngram_tld_row = "yes" is not a boolean: allowed true or false');
  rejects({ infrastructure: { kafka: { sasl: { mechanism: "PLAIN" } } } }, "stoq_config.infrastructure.kafka.sasl.username is missing: allowed a non-empty string");
});

test("unknown keys are errors naming the key and the nearest known one", () => {
  rejects(
    { statistical_analysis: { window_size: ["1s"] } },
    "stoq_config.statistical_analysis.window_size is not a known key: did you mean window_sizes? allowed keys: enabled, window_sizes, dns_pattern_analysis, network_flow_modeling",
  );
  rejects({ machine_learning: { threat_detection: { threshold: 0.5 } } }, "threat_detection.threshold is not a known key: did you mean threat_threshold?");
  rejects({ monitorng: {} }, "stoq_config.monitorng is not a known key: did you mean monitoring?");
  const { message } = errorOf(() => parseConfig({ stoq_conf: {} }, { env: NO_ENV }));
  assert.match(message, /stoq_conf is not a known key: did you mean stoq_config\?/);
  assert.match(message, /stoq_config is missing/);
});

test("all errors of a file are reported at once", () => {
  const { message } = errorOf(() =>
    parseConfig(doc({ performance: { memory_limit_mb: 1 }, monitoring: { typo: 1 }, collector: { mode: "ebpf" } }), { env: NO_ENV }),
  );
  assert.match(message, /memory_limit_mb = 1 is out of range/);
  assert.match(message, /monitoring\.typo is not a known key/);
  assert.match(message, /collector\.mode = "ebpf" is not allowed/);
});

test("unreadable or malformed files are CONFIG_UNREADABLE naming the file", () => {
  withDir((dir) => {
    const missing = errorOf(() => loadConfig({ path: join(dir, "nope.yaml"), env: NO_ENV }));
    assert.equal(missing.code, "CONFIG_UNREADABLE");
    assert.match(missing.message, /nope\.yaml \(ENOENT\); set STOQ_CONFIG_PATH/);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "stoq_config:\n  performance: [1,\n");
    const malformed = errorOf(() => loadConfig({ path: bad, env: NO_ENV }));
    assert.equal(malformed.code, "CONFIG_UNREADABLE");
    assert.match(malformed.message, /bad\.yaml is not valid YAML/);
    const dup = join(dir, "dup.yaml");
    writeFileSync(dup, "stoq_config:\n  performance: {}\n  performance: {}\n");
    assert.equal(errorOf(() => loadConfig({ path: dup, env: NO_ENV })).code, "CONFIG_UNREADABLE");
  });
});

test("STOQ_CONFIG_PATH chooses the file and STOQ__ variables override keys", () => {
  withDir((dir) => {
    const file = join(dir, "custom.yaml");
    writeFileSync(file, stringify(doc({ performance: { memory_limit_mb: 4096 } })));
    assert.equal(configPath({ STOQ_CONFIG_PATH: file }), file);
    assert.equal(configPath({}), DEFAULT_CONFIG_PATH);
    assert.equal(loadConfig({ env: { STOQ_CONFIG_PATH: file } }).performance.memory_limit_mb, 4096);

    const env = {
      STOQ_CONFIG_PATH: file,
      STOQ__MACHINE_LEARNING__THREAT_DETECTION__THREAT_THRESHOLD: "0.9",
      STOQ__STATISTICAL_ANALYSIS__WINDOW_SIZES: '["1s", "10s"]',
      STOQ__INFRASTRUCTURE__KAFKA__BROKERS: "[127.0.0.1:19092]",
      STOQ__COLLECTOR__ENFORCEMENT: "shadow",
      STOQ__COLLECTOR__NODE_NAME: "",
      STOQ_NODE_NAME: "k8s-node-7",
    };
    const c = loadConfig({ env });
    assert.equal(c.machine_learning.threat_detection.threat_threshold, 0.9);
    assert.deepEqual(c.statistical_analysis.window_sizes, [1000, 10_000]);
    assert.deepEqual(c.infrastructure.kafka.brokers, ["127.0.0.1:19092"]);
    assert.equal(c.collector.enforcement, "shadow");
    assert.equal(c.collector.node_name, "k8s-node-7", "an empty override means null, and null means $STOQ_NODE_NAME");
    assert.equal(c.performance.memory_limit_mb, 4096, "keys not overridden come from the file");

    const bad = errorOf(() => loadConfig({ env: { ...env, STOQ__MACHINE_LEARNING__THREAT_DETECTION__THREAT_THRESHOLD: "2" } }));
    assert.match(bad.message, /threat_threshold = 2 is out of range: allowed 0 < x < 1/);
    assert.match(bad.message, /environment overrides applied: .*STOQ__MACHINE_LEARNING__THREAT_DETECTION__THREAT_THRESHOLD/);
    const unknown = errorOf(() => loadConfig({ env: { STOQ_CONFIG_PATH: file, STOQ__COLECTOR__MODE: "xdp" } }));
    assert.match(unknown.message, /stoq_config\.colector is not a known key: did you mean collector\?/);
  });
});

test("passwords come from a file or the environment and are required where configured", () => {
  withDir((dir) => {
    writeFileSync(join(dir, "empty.pw"), "");
    const sasl = (s: Record<string, unknown>): Record<string, unknown> => ({
      infrastructure: { kafka: { sasl: { mechanism: "PLAIN", username: "u", ...s } } },
    });
    const parse = (patch: Record<string, unknown>, env: NodeJS.ProcessEnv = NO_ENV): StoqConfig =>
      parseConfig(doc(patch), { env, baseDir: dir });
    assert.equal(parse(sasl({ password_env: "KPW" }), { KPW: "from-env" }).infrastructure.kafka.sasl?.password.reveal(), "from-env");
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [sasl({}), /stoq_config\.infrastructure\.kafka\.sasl has no password: allowed password_file or password_env/],
      [sasl({ password_env: "KPW" }), /sasl\.password_env = "KPW" names an unset or empty environment variable/],
      [sasl({ password_file: "missing.pw" }), /sasl\.password_file = ".*missing\.pw" cannot be read \(ENOENT\)/],
      [sasl({ password_file: "empty.pw" }), /sasl\.password_file = ".*empty\.pw" is empty/],
      [sasl({ password_file: "empty.pw", password_env: "KPW" }), /sets both password_file and password_env: allowed one of them/],
      [{ infrastructure: { redis: { password_env: "1BAD" } } }, /redis\.password_env = "1BAD" is not allowed: allowed an environment variable name/],
    ];
    for (const [patch, expected] of cases) {
      const { code, message } = errorOf(() => parse(patch));
      assert.equal(code, "CONFIG_INVALID");
      assert.match(message, expected);
    }
    assert.equal(parse({}).infrastructure.redis.password, null, "no Redis AUTH unless configured");
  });
});

test("secrets never appear when the config is printed, serialised or logged", () => {
  withDir((dir) => {
    const SECRET = "s3cr3t-kafka-pw";
    writeFileSync(join(dir, "k.pw"), `${SECRET}\n`);
    const c = parseConfig(
      doc({
        infrastructure: {
          kafka: { sasl: { mechanism: "SCRAM-SHA-256", username: "stoq", password_file: "k.pw" } },
          redis: { password_env: "RPW" },
        },
      }),
      { env: { RPW: "r3d1s-pw" }, baseDir: dir },
    );
    assert.equal(c.infrastructure.kafka.sasl?.password.reveal(), SECRET);
    const lines: string[] = [];
    const log = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) }));
    log.info({ config: c }, "loaded");
    log.info({ config: redactConfig(c) }, "loaded");
    const outputs = [
      JSON.stringify(c),
      JSON.stringify(redactConfig(c)),
      inspect(c, { depth: Infinity }),
      `${String(c.infrastructure.kafka.sasl?.password)}`,
      lines.join(""),
    ];
    for (const out of outputs) {
      assert.ok(!out.includes(SECRET) && !out.includes("r3d1s-pw"), `secret leaked in: ${out.slice(0, 200)}`);
    }
    assert.ok(JSON.stringify(redactConfig(c)).includes('"password":"[redacted]"'));
    assert.match(inspect(c, { depth: Infinity }), /Secret\(\[redacted\] from file .*k\.pw\)/);
    assert.ok(new Secret("x", "test") instanceof Secret);
  });
});

test("docs/config.md documents every key", () => {
  const docs = readFileSync(join(DEFAULT_CONFIG_PATH, "../../docs/config.md"), "utf8");
  withDir((dir) => {
    writeFileSync(join(dir, "f"), "x");
    const c = parseConfig(
      doc({
        infrastructure: {
          kafka: { sasl: { mechanism: "PLAIN", username: "u", password_file: "f" }, tls: { ca_file: "f", cert_file: "f", key_file: "f" } },
        },
      }),
      { env: NO_ENV, baseDir: dir },
    );
    const paths: string[] = [];
    const walk = (v: unknown, p: string): void => {
      if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Secret)) {
        for (const [k, x] of Object.entries(v)) if (k !== "password") walk(x, p === "" ? k : `${p}.${k}`);
      } else {
        paths.push(p);
      }
    };
    walk(c, "");
    assert.ok(paths.length >= 65, `only ${paths.length} keys found`);
    const undocumented = paths.filter((p) => !docs.includes(`| \`${p}\` |`));
    assert.deepEqual(undocumented, []);
  });
});

test("the consumer lag threshold beyond the seed's three reaches the rendered alert rule", () => {
  const c = parseConfig({ stoq_config: { monitoring: { alert_thresholds: { consumer_lag_records: 250000 } } } }, { env: NO_ENV });
  assert.equal(c.monitoring.alert_thresholds.consumer_lag_records, 250000);
  assert.match(renderAlertRules(c.monitoring.alert_thresholds), /stoq_consumer_lag_records[^\n]*> 250000\b/);
  assert.equal(parseConfig({ stoq_config: {} }, { env: NO_ENV }).monitoring.alert_thresholds.consumer_lag_records, CONSUMER_LAG_RECORDS);
});
