// `stoq status`: a table of the stack's components (pid, port, health); exit 0 only when all are healthy.
import { parseArgs } from "node:util";
import { stackStatus } from "../lib/src/stack.js";

export const usage = `usage: stoq status [--quiet]

Prints component, pid, port and health for Kafka, Redis and Prometheus (STOQ_* ports and state dir).
Exits 0 when every component is ours and answers its health probe, 1 otherwise.
  --quiet  print nothing; only the exit code`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { quiet: { type: "boolean" } } });
  const rows = await stackStatus();
  const healthy = rows.every((r) => r.healthy);
  if (!values.quiet) {
    const table = [
      ["component", "pid", "port", "health", "detail"],
      ...rows.map((r) => [r.name, r.pid === null ? "-" : String(r.pid), String(r.port), r.healthy ? "healthy" : "DOWN", r.healthy ? r.detail : `${r.detail} (log ${r.log})`]),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) process.stdout.write(row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
  }
  return healthy ? 0 : 1;
}
