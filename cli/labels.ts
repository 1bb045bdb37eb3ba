// `stoq labels import`: publishes a threat-intel or analyst list (CSV) as Label records on stoq.labels.v1,
// which the trainer joins with feature vectors and the detector uses to track false positives.
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { encode, type Label } from "../lib/src/avro.js";
import { loadConfig } from "../lib/src/config.js";
import { createProducer } from "../lib/src/kafka.js";
import { readCsvRecords, requireColumn } from "../lib/src/model/labelled-csv.js";
import { kafkaConnection } from "../lib/src/service-runtime.js";
import { TOPICS } from "../lib/src/topics.js";

export const usage = `usage: stoq labels import --csv FILE [--column domain] [--family-column family] [--label malicious|benign]
                          [--source threat_intel|analyst] [--exclude-family F,...] [--limit N]

Publishes one Label per row (entity type registered_domain, keyed by the domain) to stoq.labels.v1.
  --csv FILE           CSV with a header row
  --column NAME        column holding the domain (default domain)
  --family-column NAME column holding the malware family, if any (default family, when present)
  --label L            malicious (default) or benign
  --source S           threat_intel (default) or analyst
  --exclude-family F   skip rows of these families (comma-separated)
  --limit N            publish at most N rows`;

const LABELS = ["malicious", "benign"] as const;
const SOURCES = ["threat_intel", "analyst"] as const;

function oneOf<T extends string>(flag: string, raw: string | undefined, allowed: readonly T[], def: T): T {
  if (raw === undefined) return def;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new Error(`--${flag} ${raw}: allowed ${allowed.join(", ")}`);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      csv: { type: "string" }, column: { type: "string" }, "family-column": { type: "string" }, label: { type: "string" },
      source: { type: "string" }, "exclude-family": { type: "string" }, limit: { type: "string" },
    },
  });
  if (positionals[0] !== "import" || values.csv === undefined) throw new Error(`expected \`stoq labels import --csv FILE\`\n\n${usage}`);
  const label = oneOf("label", values.label, LABELS, "malicious");
  const source = oneOf("source", values.source, SOURCES, "threat_intel");
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit > 0)) throw new Error(`--limit ${values.limit}: allowed a positive integer`);
  const excluded = new Set((values["exclude-family"] ?? "").split(",").filter(Boolean));
  const rows = readCsvRecords(values.csv);
  const domains = requireColumn(rows, values.csv, values.column ?? "domain");
  const familyColumn = values["family-column"] ?? "family";
  const now = Date.now();
  const records: { key: string; value: Buffer }[] = [];
  for (const [i, domain] of domains.entries()) {
    const family = rows[i]?.[familyColumn] ?? null;
    if (!domain || (family !== null && excluded.has(family))) continue;
    const value: Label = {
      entity_type: "registered_domain", entity: domain.toLowerCase(), label, family: family || null, source,
      source_ref: basename(values.csv), confidence: 1, labelled_at_ms: now, note: null,
    };
    records.push({ key: value.entity, value: encode("Label", value) });
    if (records.length >= limit) break;
  }
  const producer = createProducer(kafkaConnection(loadConfig()));
  try {
    const r = await producer.send(TOPICS.labels, records);
    process.stdout.write(`stoq labels: published ${r.delivered} ${label} labels from ${values.csv} to ${TOPICS.labels}${r.shed ? ` (${r.shed} shed)` : ""}\n`);
  } finally {
    await producer.close();
  }
  return 0;
}
