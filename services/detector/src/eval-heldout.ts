// Writes the held-out evaluation files from ../shared/data: the registered domains the trainer never
// reads (lib/src/model/dataset-split.ts) and the netrack tunnel test split, in the formats `npm run eval`
// takes, so the figures in the README are reproducible.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { splitOf } from "../../../lib/src/model/dataset-split.js";
import { parseCsv, readCsvRecords, requireColumn } from "../../../lib/src/model/labelled-csv.js";

export interface HeldoutFiles {
  benign: string;
  dga: string;
  tunnel: string;
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** perFamily caps each DGA family (the generated families hold 100,000 names each); the first ones in file order are kept. */
export function writeHeldout(dataDir: string, outDir: string, perFamily = 1000): HeldoutFiles {
  mkdirSync(outDir, { recursive: true });
  const files: HeldoutFiles = { benign: join(outDir, "benign.csv"), dga: join(outDir, "dga.csv"), tunnel: join(outDir, "tunnel.csv") };

  const benignPath = join(dataDir, "domains/benign.csv");
  // The source list rides along (alexa, opendns-top, ...): the benign lists differ in how clean they are.
  const benign = readCsvRecords(benignPath).filter((r) => r.domain && splitOf(r.domain, 0) === "heldout");
  if (benign.length > 0) requireColumn(benign, benignPath, "domain");
  writeFileSync(files.benign, ["domain,source", ...benign.map((r) => `${csvField(r.domain!)},${csvField(r.source ?? "")}`)].join("\n") + "\n");

  const dgaPath = join(dataDir, "domains/dga.csv");
  const counts = new Map<string, number>();
  const dga: string[] = [];
  for (const r of readCsvRecords(dgaPath)) {
    const fam = r.family ?? "unknown";
    const n = counts.get(fam) ?? 0;
    if (!r.domain || n >= perFamily || splitOf(r.domain, 0) !== "heldout") continue;
    counts.set(fam, n + 1);
    dga.push(`${csvField(r.domain)},${csvField(fam)}`);
  }
  writeFileSync(files.dga, ["domain,family", ...dga].join("\n") + "\n");

  const test = parseCsv(readFileSync(join(dataDir, "dns-tunnel/netrack/test.csv"), "utf8")).filter((r) => r[0] === "0" || r[0] === "1");
  writeFileSync(files.tunnel, ["name,label", ...test.map((r) => `${csvField(r.slice(1).join(","))},${r[0]}`)].join("\n") + "\n");
  return files;
}
