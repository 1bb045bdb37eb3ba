// Collector parse benchmark: packets/s through the whole userspace path (decode, flow table, DNS, TLS) on the
// dns2tcp capture, and DNS messages/s of our parser with dns-packet decoding the same payloads in the same
// run as the reference (the ratio is ours / dns-packet).
//
//   npx tsx bench/parse.ts [--json] [--seconds S] [--capture path]
import { parseArgs } from "node:util";
import dnsPacket from "dns-packet";
import { readCapture, type CapturedPacket } from "../services/collector/src/pcap.js";
import { decodePacket } from "../services/collector/src/packet.js";
import { parseDns } from "../services/collector/src/dns.js";
import { Observer } from "../services/collector/src/observer.js";
import { dnsEvent, flowRecord } from "../services/collector/src/records.js";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    seconds: { type: "string", default: "2" },
    capture: { type: "string", default: new URL("../../shared/data/pcap/dns2tcp_netrack_2018-03-23.pcap", import.meta.url).pathname },
  },
});
const SECONDS = Number(args.seconds);
if (!(SECONDS > 0 && SECONDS <= 60)) throw new Error(`--seconds ${args.seconds}: allowed 0 < S <= 60`);

const packets: CapturedPacket[] = [];
for await (const p of readCapture(args.capture)) packets.push(p);
const payloads: Buffer[] = [];
for (const c of packets) {
  const p = decodePacket(c.linkType, c.data, c.tsUs, c.origLen);
  if (typeof p !== "string" && p.proto === 17 && (p.srcPort === 53 || p.dstPort === 53)) payloads.push(p.payload);
}

/** Runs `round` repeatedly for SECONDS after a warm-up; returns items per second. */
function rate(items: number, round: () => void): number {
  for (let i = 0; i < 3; i++) round();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < SECONDS * 1000) {
    round();
    n += items;
    elapsed = performance.now() - start;
  }
  return (n / elapsed) * 1000;
}

let sink = 0;
const pipeline = rate(packets.length, () => {
  // Records are built as the collector builds them (Avro encoding is bench/avro.ts's subject).
  const o = new Observer((ob) => {
    if (ob.kind === "dns") sink += dnsEvent(ob, "bench").value.answer_count;
    else if (ob.kind === "flow") sink += flowRecord(ob.flow, "bench").value.packets_fwd;
  });
  for (const p of packets) o.capture(p);
  o.flush();
});
const ours = rate(payloads.length, () => {
  for (const b of payloads) {
    const m = parseDns(b);
    if (typeof m !== "string") sink += m.answers.length;
  }
});
const reference = rate(payloads.length, () => {
  for (const b of payloads) {
    try {
      sink += dnsPacket.decode(b).answers?.length ?? 0;
    } catch {
      sink--;
    }
  }
});

const result = {
  capture: args.capture.split("/").pop(),
  packets: packets.length,
  dns_messages: payloads.length,
  packets_per_s: Math.round(pipeline),
  dns_msgs_per_s: Math.round(ours),
  dns_packet_msgs_per_s: Math.round(reference),
  ratio: Number((ours / reference).toFixed(2)),
};
if (args.json) process.stdout.write(JSON.stringify(result) + "\n");
else {
  process.stdout.write(`${result.capture}: ${result.packets} packets, ${result.dns_messages} DNS messages\n`);
  process.stdout.write(`whole userspace path  ${result.packets_per_s.toLocaleString()} packets/s\n`);
  process.stdout.write(`DNS parse (ours)      ${result.dns_msgs_per_s.toLocaleString()} msgs/s\n`);
  process.stdout.write(`DNS parse (dns-packet) ${result.dns_packet_msgs_per_s.toLocaleString()} msgs/s  ratio ${result.ratio}\n`);
}
if (sink === 0.5) process.stdout.write("");
