// Real captures for the kernel tests: every pcap/pcapng under ../shared/data/pcap and ../shared/data/peer,
// read with the collector's reader, each frame turned into the Ethernet frame XDP sees; and tshark, the
// independent dissector whose fields the kernel's extraction is checked against.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LINK } from "../../services/collector/src/packet.js";
import { readCapture } from "../../services/collector/src/pcap.js";

export const DATA_DIR = fileURLToPath(new URL("../../../shared/data/", import.meta.url));

/** Every capture file of the shared data, sorted. */
export function captureFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.(pcap|pcapng)$/.test(e.name)) out.push(join(dir, e.name));
    }
  };
  walk(join(DATA_DIR, "pcap"));
  walk(join(DATA_DIR, "peer"));
  return out.sort();
}

const ETH_HEADER = Buffer.from("02000000000202000000000100000000", "hex").subarray(0, 14);

function withEthernet(ip: Buffer): Buffer | null {
  const version = (ip[0] ?? 0) >> 4;
  if (version !== 4 && version !== 6) return null;
  const eth = Buffer.from(ETH_HEADER);
  eth.writeUInt16BE(version === 4 ? 0x0800 : 0x86dd, 12);
  return Buffer.concat([eth, ip]);
}

/** The frame as an Ethernet NIC would hand it to XDP; null for link types that carry no IP we can rebuild. */
export function toEthernet(linkType: number, data: Buffer): Buffer | null {
  switch (linkType) {
    case LINK.ETHERNET:
      return data;
    case LINK.NULL:
    case LINK.LOOP:
      return withEthernet(data.subarray(4));
    case LINK.RAW:
    case LINK.IPV4:
    case LINK.IPV6:
      return withEthernet(data);
    case LINK.LINUX_SLL:
      return withEthernet(data.subarray(16));
    case LINK.LINUX_SLL2:
      return withEthernet(data.subarray(20));
    default:
      return null;
  }
}

/** The frames of a capture, in order, as Ethernet (null where the link type cannot be rebuilt). */
export async function ethernetFrames(path: string): Promise<(Buffer | null)[]> {
  const out: (Buffer | null)[] = [];
  for await (const p of readCapture(path)) out.push(toEthernet(p.linkType, p.data));
  return out;
}

/** tshark -T fields rows: frame number first, then each field ("" when absent, occurrences joined by ","). */
export function tsharkFields(capture: string, fields: string[], filter?: string): string[][] {
  const args = ["-n", "-r", capture, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.number"];
  for (const f of fields) args.push("-e", f);
  if (filter) args.push("-Y", filter);
  const text = execFileSync("tshark", args, { encoding: "utf8", maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "ignore"] });
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split("\t"));
}
