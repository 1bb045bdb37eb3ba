// `stoq down`: stops the processes `stoq up` started for this state dir, and nothing else.
import { parseArgs } from "node:util";
import { stackDown } from "../lib/src/stack.js";

export const usage = `usage: stoq down [--timeout SECONDS] [--quiet]

Stops Kafka, Redis and Prometheus started by \`stoq up\` (same STOQ_STATE_DIR); data stays on disk.
  --timeout SECONDS  how long to wait for each to exit before killing it (default 30)
  --quiet            print nothing unless it fails`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { timeout: { type: "string" }, quiet: { type: "boolean" } } });
  const timeoutS = Number(values.timeout ?? "30");
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout ${values.timeout} is not a positive number of seconds`);
  const say = values.quiet ? () => undefined : (line: string) => process.stdout.write(`stoq down: ${line}\n`);
  const stopped = await stackDown({ timeoutMs: timeoutS * 1000, progress: say });
  say(stopped.length === 0 ? "nothing was running" : `stopped ${stopped.join(", ")}`);
  return 0;
}
