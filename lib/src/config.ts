// The STOQ configuration: the seed's `stoq_config` YAML plus the keys a running system needs, validated
// once at start-up into a frozen, typed object (durations in milliseconds, secrets wrapped). Every service
// loads it with loadConfig(); docs/config.md documents each key.
import { accessSync, constants, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { StoqError } from "./errors.js";
import { CONSUMER_LAG_RECORDS } from "./alert-rules.js";
import {
  bool,
  duration,
  int,
  list,
  map,
  nearest,
  nullable,
  num,
  oneOf,
  refine,
  section,
  show,
  str,
  withDefault,
  type Context,
  type Infer,
  type Spec,
} from "./config-schema.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_CONFIG_PATH = resolve(REPO_ROOT, "config/stoq.yaml");
/** `STOQ__MACHINE_LEARNING__THREAT_DETECTION__THREAT_THRESHOLD=0.9` overrides that key (value parsed as YAML). */
export const ENV_OVERRIDE_PREFIX = "STOQ__";
const ROOT = "stoq_config";

/** A password read from a file or the environment; it prints, logs and serialises as "[redacted]". */
export class Secret {
  readonly #value: string;
  /** Where it came from, e.g. `file /run/secrets/kafka` or `env KAFKA_PASSWORD`; safe to log. */
  readonly source: string;

  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
    Object.freeze(this);
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return "[redacted]";
  }

  toString(): string {
    return "[redacted]";
  }

  [inspect.custom](): string {
    return `Secret([redacted] from ${this.source})`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Value kinds used below

const enabled = (): Spec<boolean> => withDefault(bool(), true);

/** A path; relative paths are resolved against the config file's directory. */
const path = (): Spec<string> => map(str("a path"), (p, _path, ctx) => resolve(ctx.baseDir, p));

const readableFile = (): Spec<string> =>
  map(path(), (p, key, ctx) => {
    try {
      accessSync(p, constants.R_OK);
    } catch {
      ctx.errors.push(`${key} = ${show(p)} is not a readable file: allowed a path to an existing, readable file`);
    }
    return p;
  });

const HOST_PORT = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/;
const hostPort = (): Spec<string> =>
  refine(
    str('"host:port" (IPv6 as "[addr]:port")', HOST_PORT),
    (v) => {
      const p = Number(HOST_PORT.exec(v)?.[1]);
      return p >= 1 && p <= 65535;
    },
    "has a port outside 1..65535",
    '"host:port" with a port 1..65535',
  );

const url = (protocols: readonly string[]): Spec<string> => {
  const allowed = `a URL with scheme ${protocols.map((p) => `${p}//`).join(" or ")} and no password in it (use password_file or password_env)`;
  return refine(
    str(allowed),
    (v) => {
      try {
        const u = new URL(v);
        return protocols.includes(u.protocol) && u.password === "";
      } catch {
        return false;
      }
    },
    "is not allowed",
    allowed,
  );
};

const name = (): Spec<string> => str("a name of letters, digits, '.', '_' or '-'", /^[A-Za-z0-9._-]{1,128}$/);

/** password_file / password_env: where a password comes from (at most one; resolved by resolvePassword). */
const passwordSource = () => ({
  password_file: withDefault(nullable(path()), null),
  password_env: withDefault(nullable(str("an environment variable name", /^[A-Za-z_][A-Za-z0-9_]*$/)), null),
});

function resolvePassword(
  v: { password_file: string | null; password_env: string | null },
  key: string,
  ctx: Context,
  required: boolean,
): Secret | null {
  if (v.password_file !== null && v.password_env !== null) {
    ctx.errors.push(`${key} sets both password_file and password_env: allowed one of them`);
    return null;
  }
  if (v.password_file !== null) {
    let text: string;
    try {
      text = readFileSync(v.password_file, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      ctx.errors.push(`${key}.password_file = ${show(v.password_file)} cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}): allowed a readable file holding the password`);
      return null;
    }
    if (text === "") ctx.errors.push(`${key}.password_file = ${show(v.password_file)} is empty: allowed a file holding the password`);
    return new Secret(text, `file ${v.password_file}`);
  }
  if (v.password_env !== null) {
    const text = ctx.env[v.password_env];
    if (text === undefined || text === "") {
      ctx.errors.push(`${key}.password_env = ${show(v.password_env)} names an unset or empty environment variable: allowed the name of a variable holding the password`);
      return null;
    }
    return new Secret(text, `env ${v.password_env}`);
  }
  if (required) ctx.errors.push(`${key} has no password: allowed password_file or password_env`);
  return null;
}

// ---------------------------------------------------------------------------------------------------
// The schema. Seed keys first, in the seed's order, with the seed's values as defaults.

const statisticalAnalysis = section({
  enabled: enabled(),
  window_sizes: withDefault(
    refine(
      list(duration({ minMs: 100, maxMs: 30 * 86_400_000 }), { minItems: 1, maxItems: 8 }),
      (v) => v.every((x, i) => i === 0 || x > (v[i - 1] ?? 0)),
      "is not strictly ascending",
      "distinct window sizes, smallest first",
    ),
    ["1s", "1m", "1h", "24h"],
  ),
  dns_pattern_analysis: section({
    enabled: enabled(),
    max_domains_tracked: withDefault(int({ ge: 1, le: 100_000_000 }), 1_000_000),
    pattern_learning_rate: withDefault(num({ gt: 0, le: 1 }), 0.01),
    anomaly_threshold: withDefault(num({ gt: 0, le: 100 }), 3.0),
  }),
  network_flow_modeling: section({
    enabled: enabled(),
    flow_timeout: withDefault(duration({ minMs: 1000, maxMs: 86_400_000 }), "300s"),
    statistical_aggregation: enabled(),
    congestion_detection: enabled(),
  }),
});

const machineLearning = section({
  kernel_inference: section({
    enabled: enabled(),
    model_type: withDefault(oneOf(["neural_network"]), "neural_network"),
    inference_timeout_us: withDefault(int({ ge: 1, le: 1_000_000 }), 20),
  }),
  threat_detection: section({
    enabled: enabled(),
    threat_threshold: withDefault(num({ gt: 0, lt: 1 }), 0.85),
    false_positive_tolerance: withDefault(num({ ge: 0, lt: 1 }), 0.01),
  }),
  continuous_learning: section({
    enabled: enabled(),
    training_interval: withDefault(duration({ minMs: 1000, maxMs: 30 * 86_400_000 }), "1h"),
    min_training_samples: withDefault(int({ ge: 1, le: 1_000_000_000 }), 10_000),
    model_validation_split: withDefault(num({ gt: 0, lt: 1 }), 0.2),
  }),
});

const performance = section({
  target_throughput_gbps: withDefault(num({ gt: 0, le: 10_000 }), 40.0),
  max_processing_latency_us: withDefault(int({ ge: 1, le: 60_000_000 }), 50),
  memory_limit_mb: withDefault(int({ ge: 64, le: 1_048_576 }), 2048),
  concurrent_flows_limit: withDefault(int({ ge: 1, le: 100_000_000 }), 1_000_000),
});

const monitoring = section({
  metrics_collection: enabled(),
  detailed_logging: withDefault(bool(), false),
  performance_reporting: enabled(),
  alert_thresholds: section({
    latency_p99_us: withDefault(num({ gt: 0, le: 60_000_000 }), 100),
    throughput_drop_percent: withDefault(num({ gt: 0, le: 100 }), 10),
    false_positive_rate: withDefault(num({ ge: 0, le: 1 }), 0.02),
    // Beyond the seed's three: a partition's consumer lag (records) that fires StoqConsumerLagHigh.
    consumer_lag_records: withDefault(num({ gt: 0, le: 1e12 }), CONSUMER_LAG_RECORDS),
  }),
});

// Keys beyond the seed: what the running services need.

const kafkaSasl = section(
  {
    mechanism: oneOf(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
    username: str(),
    ...passwordSource(),
  },
);

const infrastructure = section({
  kafka: section({
    brokers: withDefault(list(hostPort(), { minItems: 1, maxItems: 100 }), ["127.0.0.1:9092"]),
    client_id: withDefault(name(), "stoq"),
    sasl: withDefault(
      // A missing password is recorded as an error, so the cast never reaches a caller.
      nullable(map(kafkaSasl, (v, key, ctx) => ({ ...v, password: resolvePassword(v, key, ctx, true) as Secret }))),
      null,
    ),
    tls: withDefault(
      nullable(
        section({
          ca_file: withDefault(nullable(readableFile()), null),
          cert_file: withDefault(nullable(readableFile()), null),
          key_file: withDefault(nullable(readableFile()), null),
          servername: withDefault(nullable(str()), null),
          reject_unauthorized: withDefault(bool(), true),
        }),
      ),
      null,
    ),
  }),
  redis: map(
    section({
      url: withDefault(url(["redis:", "rediss:"]), "redis://127.0.0.1:6379/0"),
      username: withDefault(nullable(str()), null),
      ...passwordSource(),
      key_prefix: withDefault(str("a string", /^[A-Za-z0-9:._-]*$/), "stoq:"),
    }),
    (v, key, ctx) => ({ ...v, password: resolvePassword(v, key, ctx, false) }),
  ),
  prometheus: section({
    url: withDefault(url(["http:", "https:"]), "http://127.0.0.1:9090"),
    metrics_host: withDefault(str(), "127.0.0.1"),
    metrics_port_base: withDefault(int({ ge: 1, le: 65532 }), 9464),
  }),
});

const collector = section({
  node_name: withDefault(nullable(name()), null),
  mode: withDefault(oneOf(["pcap", "xdp"]), "pcap"),
  interface: withDefault(nullable(str("an interface name", /^[A-Za-z0-9_.:@-]{1,15}$/)), null),
  xdp_mode: withDefault(oneOf(["native", "generic"]), "native"),
  enforcement: withDefault(oneOf(["observe", "shadow", "enforce"]), "observe"),
  flow_active_timeout: withDefault(duration({ minMs: 1000, maxMs: 86_400_000 }), "60s"),
  ring_buffer_bytes: withDefault(
    refine(
      int({ ge: 4096, le: 1 << 30 }),
      (v) => (v & (v - 1)) === 0,
      "is not a power of two",
      "a power of two 4096 <= x <= 1073741824 (the kernel requires it)",
    ),
    16 << 20,
  ),
  max_buffered_records: withDefault(int({ ge: 1000, le: 100_000_000 }), 200_000),
});

const model = section({
  name: withDefault(name(), "stoq-threat"),
  public_key_file: withDefault(path(), "../.stoq/keys/model-signing.pub"),
  private_key_file: withDefault(path(), "../.stoq/keys/model-signing.key"),
  hidden_units: withDefault(int({ ge: 1, le: 64 }), 16),
  ngram_tld_row: withDefault(bool(), true),
  min_accuracy: withDefault(num({ gt: 0, le: 1 }), 0.9),
  base_data_dir: withDefault(nullable(path()), "../../shared/data"),
});

const aggregator = section({
  instance: withDefault(nullable(name()), null),
  allowed_lateness: withDefault(duration({ minMs: 0, maxMs: 86_400_000 }), "5s"),
  top_k: withDefault(int({ ge: 0, le: 1000 }), 10),
});

const detector = section({
  warmup_windows: withDefault(int({ ge: 1, le: 100_000 }), 30),
  min_window_count: withDefault(int({ ge: 0, le: 1_000_000_000 }), 5),
});

const CONFIG_SPEC = section({
  statistical_analysis: statisticalAnalysis,
  machine_learning: machineLearning,
  performance,
  monitoring,
  infrastructure,
  collector,
  model,
  aggregator,
  detector,
});

type Parsed = Infer<typeof CONFIG_SPEC>;
type DeepReadonly<T> = T extends Secret
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** The validated configuration: the content of `stoq_config`, durations in milliseconds, paths absolute. */
export type StoqConfig = DeepReadonly<
  Omit<Parsed, "collector" | "aggregator"> & {
    collector: Omit<Parsed["collector"], "node_name"> & { node_name: string };
    aggregator: Omit<Parsed["aggregator"], "instance"> & { instance: string };
  }
>;

export const SERVICES = ["collector", "aggregator", "detector", "trainer"] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The port a service serves /metrics on: metrics_port_base + its index (collector 9464 ... trainer 9467). */
export function metricsPort(config: StoqConfig, service: ServiceName): number {
  return config.infrastructure.prometheus.metrics_port_base + SERVICES.indexOf(service);
}

// ---------------------------------------------------------------------------------------------------
// Loading

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === "object" && !(v instanceof Secret) && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** The config file to read: STOQ_CONFIG_PATH, else config/stoq.yaml in the repository. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const p = env["STOQ_CONFIG_PATH"];
  return p === undefined || p === "" ? DEFAULT_CONFIG_PATH : resolve(p);
}

/** Applies STOQ__A__B=value overrides to the document before it is validated. */
function applyEnvOverrides(root: Record<string, unknown>, env: NodeJS.ProcessEnv, errors: string[]): void {
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_OVERRIDE_PREFIX) || raw === undefined) continue;
    const keys = name.slice(ENV_OVERRIDE_PREFIX.length).toLowerCase().split("__");
    if (keys.some((k) => k === "")) {
      errors.push(`environment ${name} is not an override: allowed ${ENV_OVERRIDE_PREFIX}SECTION__KEY (double underscores between keys)`);
      continue;
    }
    let value: unknown;
    try {
      value = parseYaml(raw) as unknown;
    } catch {
      value = raw;
    }
    let node = root;
    for (const k of keys.slice(0, -1)) {
      const next = node[k];
      if (next === null || typeof next !== "object" || Array.isArray(next)) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys[keys.length - 1] ?? ""] = value;
  }
}

/** Validates a parsed YAML document (`{ stoq_config: {...} }`); `source` names it in errors. */
export function parseConfig(
  doc: unknown,
  opts: { env?: NodeJS.ProcessEnv; baseDir?: string; source?: string } = {},
): StoqConfig {
  const env = opts.env ?? process.env;
  const source = opts.source ?? "configuration";
  const ctx: Context = { errors: [], baseDir: opts.baseDir ?? dirname(DEFAULT_CONFIG_PATH), env };
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new StoqError("CONFIG_INVALID", `${source}: expected a mapping with the root key ${ROOT}, got ${show(doc)}`);
  }
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top)) {
    if (k !== ROOT) ctx.errors.push(`${k} is not a known key: did you mean ${nearest(k, [ROOT])}? allowed keys: ${ROOT}`);
  }
  if (!(ROOT in top)) ctx.errors.push(`${ROOT} is missing: allowed ${CONFIG_SPEC.allowed}`);
  const root = structuredClone(top[ROOT] ?? {}) as Record<string, unknown>;
  if (root !== null && typeof root === "object" && !Array.isArray(root)) applyEnvOverrides(root, env, ctx.errors);

  const parsed = CONFIG_SPEC.parse(root, ROOT, ctx);
  if (ctx.errors.length === 0) crossChecks(parsed, ctx.errors);
  if (ctx.errors.length > 0) {
    const overrides = Object.keys(env).filter((k) => k.startsWith(ENV_OVERRIDE_PREFIX));
    const note = overrides.length > 0 ? `\n  (environment overrides applied: ${overrides.join(", ")})` : "";
    throw new StoqError("CONFIG_INVALID", `${source} is invalid:\n  - ${ctx.errors.join("\n  - ")}${note}`);
  }
  const host = hostname();
  const nodeName = parsed.collector.node_name ?? (env["STOQ_NODE_NAME"] || host);
  return deepFreeze({
    ...parsed,
    collector: { ...parsed.collector, node_name: nodeName },
    aggregator: { ...parsed.aggregator, instance: parsed.aggregator.instance ?? nodeName },
  });
}

function crossChecks(c: Parsed, errors: string[]): void {
  if (c.collector.mode === "xdp" && c.collector.interface === null) {
    errors.push(`${ROOT}.collector.interface = null is not allowed: allowed an interface name when collector.mode is "xdp"`);
  }
  const tls = c.infrastructure.kafka.tls;
  if (tls !== null && (tls.cert_file === null) !== (tls.key_file === null)) {
    errors.push(`${ROOT}.infrastructure.kafka.tls sets only one of cert_file and key_file: allowed both (client certificate) or neither`);
  }
}

/** Reads, validates and freezes the config file (STOQ_CONFIG_PATH or config/stoq.yaml). */
export function loadConfig(opts: { path?: string; env?: NodeJS.ProcessEnv } = {}): StoqConfig {
  const env = opts.env ?? process.env;
  const file = opts.path ?? configPath(env);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new StoqError("CONFIG_UNREADABLE", `cannot read the config file ${file} (${(e as NodeJS.ErrnoException).code ?? "error"}); set STOQ_CONFIG_PATH to a readable YAML file`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true }) as unknown;
  } catch (e) {
    const detail = e instanceof YAMLParseError ? e.message : String(e);
    throw new StoqError("CONFIG_UNREADABLE", `${file} is not valid YAML: ${detail}`, { cause: e });
  }
  return parseConfig(doc, { env, baseDir: dirname(file), source: file });
}

/** The config as plain data for logging: every secret is "[redacted]". */
export function redactConfig(config: StoqConfig): unknown {
  return JSON.parse(JSON.stringify(config)) as unknown;
}
