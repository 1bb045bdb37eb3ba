// Structured JSON logs for every service and tool; the level comes from STOQ_LOG_LEVEL (default "info").
import { pino, type Logger } from "pino";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LEVELS)[number];

/** Reads STOQ_LOG_LEVEL; an unknown value is a start-up error that names the allowed values. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = env["STOQ_LOG_LEVEL"] ?? "info";
  if ((LEVELS as readonly string[]).includes(raw)) return raw as LogLevel;
  throw new Error(`STOQ_LOG_LEVEL=${JSON.stringify(raw)} is not a log level; allowed: ${LEVELS.join(", ")}`);
}

/** One logger per component; `component` appears on every line so a fleet's logs can be filtered. */
export function createLogger(component: string, level: LogLevel = logLevelFromEnv()): Logger {
  return pino({ level, base: { component, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger };
