// Prometheus file_sd registration: a running service writes one JSON target file under
// <stateDir>/prometheus/targets/ so the stack's Prometheus scrapes its /metrics, and removes it on shutdown.
import fs from "node:fs";
import path from "node:path";
import { stackEndpoints } from "./stack-endpoints.js";

export interface ScrapeTarget {
  /** Becomes the `job` label, e.g. "collector". */
  readonly service: string;
  /** Becomes the `instance` label, e.g. "collector-1"; unique per running process. */
  readonly instance: string;
  /** The port serving /metrics on 127.0.0.1. */
  readonly port: number;
  /** Defaults to the stack's state dir (STOQ_STATE_DIR or .stoq). */
  readonly stateDir?: string;
}

export interface ScrapeRegistration {
  readonly file: string;
  /** Deletes the target file; safe to call more than once. */
  unregister(): void;
}

const NAME_RE = /^[A-Za-z0-9_.:-]{1,100}$/;

export function scrapeTargetsDir(stateDir: string = stackEndpoints().stateDir): string {
  return path.join(stateDir, "prometheus", "targets");
}

// The owner's pid is part of the file name so a target left behind by a crashed process can be told
// apart from a live one and pruned (see pruneStaleScrapeTargets).
function targetFileName(service: string, instance: string, pid: number): string {
  return `${service}--${instance}--${pid}.json`;
}

function pidOf(file: string): number | null {
  const m = /--(\d+)\.json$/.exec(file);
  return m?.[1] === undefined ? null : Number(m[1]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes target files whose owning process is gone; returns the names removed. */
export function pruneStaleScrapeTargets(stateDir: string = stackEndpoints().stateDir): string[] {
  const dir = scrapeTargetsDir(stateDir);
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const pid = pidOf(name);
    if (pid !== null && !isAlive(pid)) {
      fs.rmSync(path.join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/**
 * Writes the target file (atomically, so Prometheus never reads half a file) and arranges for it to be
 * removed when the process exits; call `unregister()` from the service's own shutdown path as well.
 */
export function registerScrapeTarget(target: ScrapeTarget): ScrapeRegistration {
  const { service, instance, port } = target;
  for (const [key, value] of [["service", service], ["instance", instance]] as const) {
    if (!NAME_RE.test(value)) {
      throw new Error(`scrape target ${key}=${JSON.stringify(value)} is invalid; allowed: ${NAME_RE.source}`);
    }
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`scrape target port=${port} is invalid; allowed: an integer 1..65535`);
  }
  const dir = scrapeTargetsDir(target.stateDir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, targetFileName(service, instance, process.pid));
  const body = [{ targets: [`127.0.0.1:${port}`], labels: { job: service, instance } }];
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(body, null, 2) + "\n");
  fs.renameSync(tmp, file);

  const unregister = (): void => {
    fs.rmSync(file, { force: true });
    process.off("exit", unregister);
  };
  process.on("exit", unregister);
  return { file, unregister };
}
