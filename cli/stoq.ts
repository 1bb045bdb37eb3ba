// The `stoq` command: dispatches a subcommand to its module in cli/, each loaded only when used so
// `stoq status` does not pay for the services' dependencies.
import { stdout, stderr } from "node:process";

/** What every cli/<command>.ts exports. */
export interface Command {
  readonly usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

interface Entry {
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

// Adding a subcommand is one line here plus its module.
const COMMANDS: Record<string, Entry> = {
  up: { summary: "start the embedded stack (Kafka, Redis, Prometheus) and create the topics", load: () => import("./up.js") },
  down: { summary: "stop the embedded stack started by `stoq up`", load: () => import("./down.js") },
  status: { summary: "show each stack component's pid, port and health", load: () => import("./status.js") },
  topics: { summary: "create or update the STOQ topics on a running broker", load: () => import("./topics.js") },
  demo: { summary: "run the walking skeleton on the embedded stack and report what flowed", load: () => import("./demo.js") },
  collector: { summary: "run the collector: replay captures (or XDP) and publish records; apply models", load: () => import("./collector.js") },
  detector: { summary: "run the detector: baselines and threat detectors over aggregates and events → anomalies", load: () => import("./detector.js") },
  aggregator: { summary: "run the aggregator: event-time windows to stoq.aggregates.v1 and Redis, exactly once", load: () => import("./aggregator.js") },
  trainer: { summary: "run the trainer: learn from feature vectors and labels, publish signed int8 models", load: () => import("./trainer.js") },
  labels: { summary: "publish a threat-intel or analyst list as labels (stoq labels import --csv FILE)", load: () => import("./labels.js") },
  rules: { summary: "print the Prometheus alert rules rendered from the alert thresholds", load: () => import("./rules.js") },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`);
  return [
    "usage: stoq <command> [options]",
    "",
    "STOQ: packets to decisions. Commands:",
    ...lines,
    "",
    "Run `stoq <command> --help` for a command's options.",
    "Environment: STOQ_KAFKA_PORT (9092), STOQ_REDIS_PORT (6379), STOQ_PROMETHEUS_PORT (9090),",
    "  STOQ_STATE_DIR (.stoq), STOQ_CONFIG_PATH, STOQ_LOG_LEVEL.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    stdout.write(mainHelp() + "\n");
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    stderr.write(`stoq: unknown command ${JSON.stringify(name)}\n\n${mainHelp()}\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    stdout.write(`${command.usage}\n`);
    return 0;
  }
  return command.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  stderr.write(`stoq: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
