// Test oracle: runs tshark (an independent dissector) on a capture and returns selected fields per frame.
import { execFileSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

export const DATA = new URL("../../../../shared/data/", import.meta.url).pathname;

/** Every capture under shared/data/pcap and shared/data/peer. */
export function allCaptures(): string[] {
  const out: string[] = [];
  const pcapDir = join(DATA, "pcap");
  for (const f of readdirSync(pcapDir)) if (/\.pcap(ng)?(\.gz)?$/.test(f)) out.push(join(pcapDir, f));
  const peer = join(DATA, "peer");
  for (const suite of readdirSync(peer, { withFileTypes: true })) {
    if (!suite.isDirectory()) continue;
    for (const c of readdirSync(join(peer, suite.name), { withFileTypes: true })) {
      if (!c.isDirectory()) continue;
      for (const f of readdirSync(join(peer, suite.name, c.name))) if (/\.(pcap|pcapng)(\.gz)?$/.test(f)) out.push(join(peer, suite.name, c.name, f));
    }
  }
  return out.sort();
}

export function haveTshark(): boolean {
  return existsSync("/usr/bin/tshark") || existsSync("/usr/local/bin/tshark");
}

/** Rows of `-T fields` output: frame number first, then the requested fields ("" when absent). */
export function tsharkFields(capture: string, fields: string[], filter?: string, extra: string[] = []): string[][] {
  const args = ["-n", "-r", capture, ...extra, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.number"];
  for (const f of fields) args.push("-e", f);
  if (filter) args.push("-Y", filter);
  const text = execFileSync("tshark", args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] });
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split("\t"));
}
