// Where the embedded dev stack listens and keeps its state, from STOQ_* environment variables with the
// shared defaults; tests and services call `stackEndpoints()` instead of hard-coding ports.
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface StackPorts {
  readonly kafka: number;
  /** The KRaft controller listener; only the broker itself talks to it. */
  readonly kafkaController: number;
  readonly redis: number;
  readonly prometheus: number;
}

export interface StackEndpoints {
  readonly host: "127.0.0.1";
  readonly ports: StackPorts;
  /** Bootstrap list for a Kafka client, e.g. ["127.0.0.1:9092"]. */
  readonly brokers: string[];
  readonly redisUrl: string;
  readonly prometheusUrl: string;
  /** Absolute directory holding the stack's data, logs, pid files and scrape targets. */
  readonly stateDir: string;
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const DEFAULT_PORTS = { kafka: 9092, redis: 6379, prometheus: 9090 } as const;

function portFromEnv(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${key}=${JSON.stringify(raw)} is not a TCP port; allowed: an integer 1..65535`);
  }
  return port;
}

/** Reads STOQ_KAFKA_PORT, STOQ_KAFKA_CONTROLLER_PORT, STOQ_REDIS_PORT, STOQ_PROMETHEUS_PORT, STOQ_STATE_DIR. */
export function stackEndpoints(env: NodeJS.ProcessEnv = process.env): StackEndpoints {
  const kafka = portFromEnv(env, "STOQ_KAFKA_PORT", DEFAULT_PORTS.kafka);
  const ports: StackPorts = {
    kafka,
    kafkaController: portFromEnv(env, "STOQ_KAFKA_CONTROLLER_PORT", kafka + 1),
    redis: portFromEnv(env, "STOQ_REDIS_PORT", DEFAULT_PORTS.redis),
    prometheus: portFromEnv(env, "STOQ_PROMETHEUS_PORT", DEFAULT_PORTS.prometheus),
  };
  const stateDir = path.resolve(REPO_ROOT, env["STOQ_STATE_DIR"] || ".stoq");
  return {
    host: "127.0.0.1",
    ports,
    brokers: [`127.0.0.1:${ports.kafka}`],
    redisUrl: `redis://127.0.0.1:${ports.redis}`,
    prometheusUrl: `http://127.0.0.1:${ports.prometheus}`,
    stateDir,
  };
}
