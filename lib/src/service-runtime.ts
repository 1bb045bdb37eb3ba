// Start-up and shutdown shared by the four services: validated config, logger, Kafka and Redis
// connections from config, the HTTP/metrics surface, and a clean stop on SIGTERM/SIGINT.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { Redis } from "ioredis";
import { collectDefaultMetrics } from "prom-client";
import { loadConfig, metricsPort, redactConfig, type ServiceName, type StoqConfig } from "./config.js";
import { isStoqError } from "./errors.js";
import { closeOnSignals, type Closable, type KafkaConnection } from "./kafka.js";
import { createLogger, type Logger } from "./log.js";
import { startServiceHttp } from "./service-http.js";

const FATAL_EXIT_GRACE_MS = 5000;

export interface ServiceContext {
  readonly config: StoqConfig;
  readonly log: Logger;
  readonly kafka: KafkaConnection;
  /** Unique per process: node name plus pid, so several instances on one host stay apart. */
  readonly instance: string;
  /** Stable across restarts of the same instance (the node name); transactional ids derive from it. */
  readonly node: string;
  /** A new Redis connection with the configured auth and key prefix; the caller closes it. */
  redis(): Redis;
}

export interface RunningService extends Closable {
  ready(): boolean;
  /** Settles when a finite job (a replay without --follow) is over; absent for a service that runs until stopped. */
  readonly done?: Promise<void>;
  /** Rejects when the service cannot go on (e.g. a fenced transactional producer): the process exits 1 so its supervisor restarts it. */
  readonly fatal?: Promise<never>;
}

export function kafkaConnection(config: StoqConfig): KafkaConnection {
  const k = config.infrastructure.kafka;
  return {
    brokers: [...k.brokers],
    clientId: k.client_id,
    sasl: k.sasl ? { mechanism: k.sasl.mechanism, username: k.sasl.username, password: k.sasl.password.reveal() } : null,
    tls: k.tls
      ? {
          ...(k.tls.ca_file ? { ca: readFileSync(k.tls.ca_file) } : {}),
          ...(k.tls.cert_file ? { cert: readFileSync(k.tls.cert_file) } : {}),
          ...(k.tls.key_file ? { key: readFileSync(k.tls.key_file) } : {}),
          ...(k.tls.servername ? { servername: k.tls.servername } : {}),
          rejectUnauthorized: k.tls.reject_unauthorized,
        }
      : null,
  };
}

export function redisClient(config: StoqConfig): Redis {
  const r = config.infrastructure.redis;
  return new Redis(r.url, {
    ...(r.username ? { username: r.username } : {}),
    ...(r.password ? { password: r.password.reveal() } : {}),
    keyPrefix: r.key_prefix,
    // Fail commands fast while Redis is away instead of queueing them without bound.
    maxRetriesPerRequest: 2,
    lazyConnect: false,
  });
}

export function nodeName(config: StoqConfig, env: NodeJS.ProcessEnv = process.env): string {
  return config.collector.node_name ?? env["STOQ_NODE_NAME"] ?? hostname();
}

/**
 * Loads the config (a bad value stops the process with exit code 2 and a message naming the key), starts
 * the service and its /metrics, and stops both on a signal, or when a finite service is done. `port`
 * overrides the configured metrics port (0 picks a free one, for several instances on one machine).
 * Resolves with the exit code once a finite service finished; a long-running one exits on its signal.
 */
export async function runService(
  name: ServiceName,
  start: (ctx: ServiceContext) => Promise<RunningService>,
  opts: { port?: number; config?: StoqConfig } = {},
): Promise<number> {
  let config: StoqConfig;
  try {
    config = opts.config ?? loadConfig();
  } catch (e) {
    process.stderr.write(`stoq ${name}: ${isStoqError(e) ? e.message : String(e)}\n`);
    process.exit(2);
  }
  const log = createLogger(name);
  const node = nodeName(config);
  const ctx: ServiceContext = {
    config,
    log,
    kafka: kafkaConnection(config),
    instance: `${node}-${process.pid}`,
    node,
    redis: () => redisClient(config),
  };
  if (config.monitoring.detailed_logging) log.info({ config: redactConfig(config) }, "configuration");
  collectDefaultMetrics();
  const service = await start(ctx);
  const http = await startServiceHttp({
    service: name,
    instance: ctx.instance,
    node,
    port: opts.port ?? metricsPort(config, name),
    ready: () => service.ready(),
  });
  log.info({ metricsPort: http.port, node }, `${name} started`);
  const unregister = closeOnSignals([http, service], { logger: log });
  service.fatal?.catch(async (e: unknown) => {
    log.fatal({ err: e instanceof Error ? e.message : String(e) }, `${name} cannot continue; exiting so a restart recovers`);
    // Closing a half-failed client can hang; the exit must not.
    setTimeout(() => process.exit(1), FATAL_EXIT_GRACE_MS).unref();
    await Promise.allSettled([service.close(), http.close()]);
    process.exit(1);
  });
  if (!service.done) return new Promise<number>(() => undefined);
  await service.done;
  unregister();
  await service.close();
  await http.close();
  return 0;
}
