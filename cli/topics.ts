// `stoq topics`: creates the STOQ topics on a running broker (or brings partitions and configs up to
// the specs in lib/src/topics.ts); `stoq up` does the same, this is for a broker it did not start.
import { parseArgs } from "node:util";
import { ensureTopics, stackEndpoints } from "../lib/src/stack.js";

export const usage = `usage: stoq topics [--brokers HOST:PORT[,...]]

Creates missing topics with their partitions and configs, raises partition counts that are too low and
sets configs that differ; a second run changes nothing.
  --brokers LIST  bootstrap brokers (default 127.0.0.1:STOQ_KAFKA_PORT)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { brokers: { type: "string" } } });
  const brokers = values.brokers?.split(",") ?? stackEndpoints().brokers;
  const { created, updated } = await ensureTopics(brokers);
  process.stdout.write(`stoq topics: created ${created.length === 0 ? "none" : created.join(", ")}; updated ${updated.length === 0 ? "none" : updated.join(", ")}\n`);
  return 0;
}
