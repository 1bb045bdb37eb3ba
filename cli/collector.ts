// `stoq collector`: runs the collector service (pcap replay through the user-space parsers, or XDP).
import { parseArgs } from "node:util";
import { runService } from "../lib/src/service-runtime.js";
import { parseCaptureInput } from "../services/collector/src/capture-merge.js";
import { startCollector } from "../services/collector/src/index.js";
import type { ReplaySpeed } from "../services/collector/src/replay.js";

export const usage = `usage: stoq collector --pcap FILE[@SECONDS] [--pcap ...] [--speed N|max] [--follow] [--port N]

Replays captures (pcap, pcapng, gzip) through the user-space parsers and publishes DNS events, flows,
certificates and feature vectors to Kafka; applies verified models from the model topic.
  --pcap FILE[@S]  a capture; with @S its first packet is placed S seconds after the first capture's start
                   (how real attack captures are spliced into a background); repeatable
  --speed N|max    replay pace: 1 = original, N = N times faster, max = as fast as it parses (default max)
  --follow         keep running after the captures end, applying model updates, until SIGTERM
  --port N         metrics port (default from config; 0 = any free port)
Config: STOQ_CONFIG_PATH (collector.*, model.*, infrastructure.*).`;

export function parseSpeed(raw: string | undefined): ReplaySpeed {
  if (raw === undefined || raw === "max") return "max";
  const n = Number(raw);
  if (!(n > 0)) throw new Error(`--speed ${raw}: allowed a positive number or "max"`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { pcap: { type: "string", multiple: true }, speed: { type: "string" }, follow: { type: "boolean" }, port: { type: "string" } },
  });
  const inputs = (values.pcap ?? []).map(parseCaptureInput);
  const speed = parseSpeed(values.speed);
  return runService("collector", (ctx) => startCollector(ctx, { inputs, speed, follow: values.follow ?? false }), {
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
  });
}
