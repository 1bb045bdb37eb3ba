// `stoq collector`: runs the collector service (pcap replay through the user-space parsers, or XDP).
import { parseArgs } from "node:util";
import { runService } from "../lib/src/service-runtime.js";
import { parseCaptureInput } from "../services/collector/src/capture-merge.js";
import type { XdpMode } from "../services/collector/src/bpf.js";
import { startCollector, type CollectorOptions } from "../services/collector/src/index.js";
import type { ReplaySpeed } from "../services/collector/src/replay.js";

export const usage = `usage: stoq collector --pcap FILE[@SECONDS] [--pcap ...] [--speed N|max] [--follow] [--port N]
       stoq collector --xdp IFACE [--xdp-mode native|generic] [--pin-dir DIR|none] [--port N]

Replays captures (pcap, pcapng, gzip) through the user-space parsers, or (XDP mode, root) attaches the
kernel programs to an interface; publishes DNS events, flows, certificates and feature vectors to Kafka
and applies verified models from the model topic (in XDP mode: into the kernel).
  --pcap FILE[@S]  a capture; with @S its first packet is placed S seconds after the first capture's start
                   (how real attack captures are spliced into a background); repeatable
  --speed N|max    replay pace: 1 = original, N = N times faster, max = as fast as it parses (default max)
  --follow         keep running after the captures end, applying model updates, until SIGTERM
  --xdp IFACE      XDP mode on IFACE (XDP ingress + TC egress), whatever collector.mode says; also
                   started by collector.mode = xdp with collector.interface
  --xdp-mode M     native or generic (default collector.xdp_mode)
  --pin-dir DIR    pin the kernel maps under DIR on bpffs while running (default /sys/fs/bpf/stoq/IFACE;
                   none = no pins); removed on exit
  --port N         metrics port (default from config; 0 = any free port)
Config: STOQ_CONFIG_PATH (collector.*, model.*, infrastructure.*).`;

export function parseSpeed(raw: string | undefined): ReplaySpeed {
  if (raw === undefined || raw === "max") return "max";
  const n = Number(raw);
  if (!(n > 0)) throw new Error(`--speed ${raw}: allowed a positive number or "max"`);
  return n;
}

function parseXdpMode(raw: string | undefined): XdpMode | undefined {
  if (raw === undefined || raw === "native" || raw === "generic") return raw;
  throw new Error(`--xdp-mode ${raw}: allowed native or generic`);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pcap: { type: "string", multiple: true },
      speed: { type: "string" },
      follow: { type: "boolean" },
      port: { type: "string" },
      xdp: { type: "string" },
      "xdp-mode": { type: "string" },
      "pin-dir": { type: "string" },
    },
  });
  const inputs = (values.pcap ?? []).map(parseCaptureInput);
  const speed = parseSpeed(values.speed);
  const xdpMode = parseXdpMode(values["xdp-mode"]);
  const pinDir = values["pin-dir"];
  const options: CollectorOptions = {
    inputs,
    speed,
    follow: values.follow ?? false,
    ...(values.xdp !== undefined ? { xdpInterface: values.xdp } : {}),
    ...(xdpMode !== undefined ? { xdpMode } : {}),
    ...(pinDir !== undefined ? { pinDir: pinDir === "none" ? null : pinDir } : {}),
  };
  return runService("collector", (ctx) => startCollector(ctx, options), {
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
  });
}
