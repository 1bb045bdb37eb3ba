// Runs STOQ services as child processes of the demo or a test (`bin/stoq <service> ...`), with their logs
// in files, and stops them with SIGTERM so they flush and leave their consumer groups.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { REPO_ROOT } from "../lib/src/stack-endpoints.js";

export interface ServiceProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
  stop(timeoutMs?: number): Promise<number | string>;
}

export function startServiceProcess(name: string, args: readonly string[], env: NodeJS.ProcessEnv, logDir: string): ServiceProcess {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(join(REPO_ROOT, "bin/stoq"), [...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = once(child, "exit").then(([code, signal]) => {
    log.end();
    return (code as number | null) ?? (signal as string);
  });
  return {
    name,
    logFile,
    child,
    exited,
    async stop(timeoutMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        const r = await exited;
        clearTimeout(timer);
        return r;
      }
      return exited;
    },
  };
}
