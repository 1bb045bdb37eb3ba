// Checks the generated demo capture with tshark as an independent dissector: names, rcodes, checksums.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoTraffic } from "../../src/scenario/demo-traffic.js";
import { writePcap } from "../../src/scenario/pcap-writer.js";

const DATA = join(import.meta.dirname, "../../../../shared/data/domains");

test("demo capture decodes in tshark with the names, rcodes and valid checksums we generated", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "stoq-demo-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const startUs = Date.UTC(2026, 0, 1) * 1000;
  const packets = demoTraffic({
    startUs, durationS: 10, queriesPerSecond: 5, benignCsv: join(DATA, "benign.csv"), dgaCsv: join(DATA, "dga.csv"),
    dgaBurstAtS: 5, dgaBurstQueries: 7,
  });
  assert.equal(packets.length, 2 * (50 + 7));
  for (let i = 1; i < packets.length; i++) assert.ok(packets[i - 1]!.tsUs <= packets[i]!.tsUs, "sorted by time");

  const file = join(dir, "demo.pcap");
  assert.equal(await writePcap(file, packets), packets.length);
  const out = execFileSync("tshark", [
    "-r", file, "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
    "-T", "fields", "-E", "separator=,", "-e", "dns.flags.response", "-e", "dns.qry.name", "-e", "dns.flags.rcode",
    "-e", "udp.checksum.status", "-e", "ip.checksum.status", "-e", "frame.time_epoch",
  ], { encoding: "utf8" });
  const rows = out.trim().split("\n").map((l) => l.split(","));
  assert.equal(rows.length, packets.length);
  const nx = rows.filter((r) => r[0] === "True" || r[0] === "1").filter((r) => r[2] === "3");
  assert.equal(nx.length, 7, "the DGA burst is answered NXDOMAIN");
  assert.ok(rows.every((r) => r[3] === "1" && r[4] === "1"), "UDP and IP checksums verify (tshark status 1 = good)");
  assert.ok(rows.some((r) => r[1] === "google.com"), "benign names come from the shared list");
  const first = Number(rows[0]![5]);
  assert.ok(first >= startUs / 1e6 && first < startUs / 1e6 + 10, "timestamps inside the scenario");
});
