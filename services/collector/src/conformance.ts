// `npm run conformance -- --peer-dir <dir> [--json] [--suite s] [--case c]`: runs every capture of a peer
// directory (suite/case/{capture, expected files, CASE.txt}, INDEX.tsv) through the collector's parsers and
// reports, per suite, how many emitted fields agree with the other monitor's expected output.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runCapture, Tally, type KnownDifference, type Mismatch } from "./conformance-score.js";
import { compareZeek } from "./conformance-zeek.js";
import { compareSuricata } from "./conformance-suricata.js";
import { compareArkime } from "./conformance-arkime.js";
import { compareTcpdump } from "./conformance-tcpdump.js";
import { compareNdpi } from "./conformance-ndpi.js";

export interface PeerCase {
  readonly suite: string;
  readonly name: string;
  readonly dir: string;
  readonly capture: string;
  readonly expected: string[];
}

export interface SuiteResult {
  suite: string;
  cases: number;
  fields_compared: number;
  fields_matched: number;
  exceptions: number;
  mismatches: Mismatch[];
  known_differences: KnownDifference[];
}

const CAPTURE_RE = /\.(pcap|pcapng|cap)(\.gz)?$/i;

/** Cases from INDEX.tsv when present, else from the directory layout. */
export function listCases(peerDir: string): PeerCase[] {
  const index = join(peerDir, "INDEX.tsv");
  if (existsSync(index)) {
    const lines = readFileSync(index, "utf8").trim().split("\n");
    const header = (lines.shift() ?? "").split("\t");
    const col = (name: string): number => header.indexOf(name);
    return lines
      .map((l) => l.split("\t"))
      .map((c) => {
        const suite = c[col("suite")] ?? "";
        const name = c[col("case")] ?? "";
        const dir = join(peerDir, suite, name);
        return { suite, name, dir, capture: join(dir, c[col("capture")] ?? ""), expected: (c[col("expected_files")] ?? "").split(",").filter(Boolean) };
      });
  }
  const cases: PeerCase[] = [];
  for (const suite of readdirSync(peerDir).sort()) {
    const sdir = join(peerDir, suite);
    if (!statSync(sdir).isDirectory()) continue;
    for (const name of readdirSync(sdir).sort()) {
      const dir = join(sdir, name);
      if (!statSync(dir).isDirectory()) continue;
      const files = readdirSync(dir);
      const capture = files.find((f) => CAPTURE_RE.test(f));
      if (!capture) continue;
      cases.push({ suite, name, dir, capture: join(dir, capture), expected: files.filter((f) => f !== capture && f !== "CASE.txt" && !/\.(md|suricata\.yaml)$/.test(f)) });
    }
  }
  return cases;
}

type Comparer = (caseName: string, dir: string, files: string[], out: Awaited<ReturnType<typeof runCapture>>, t: Tally) => void;

/** The expected-output format a file is in, by suite name first and by file name otherwise. */
function comparerFor(suite: string, file: string): Comparer | null {
  const s = suite.toLowerCase();
  if (s.includes("zeek") || /\.log(\.|$)|\.cut/.test(file)) return compareZeek;
  if (s.includes("suricata") || file.endsWith(".test.yaml")) return compareSuricata;
  if (s.includes("arkime") || file.endsWith(".test")) return compareArkime;
  if (s.includes("ndpi") || file.endsWith(".pcap.out")) return compareNdpi;
  if (s.includes("tcpdump") || file.endsWith(".out")) return compareTcpdump;
  return null;
}

export interface ConformanceOptions {
  readonly suite?: string;
  readonly case?: string;
  /** Flow timeouts used for the run (the peers report whole sessions, so the defaults do not slice them). */
  readonly idleTimeoutUs?: number;
  readonly activeTimeoutUs?: number;
}

// network_flow_modeling.flow_timeout's default; the active timeout is the config's maximum because every peer
// reports a connection as one session however long it lasts.
export const CONFORMANCE_IDLE_TIMEOUT_US = 300_000_000;
export const CONFORMANCE_ACTIVE_TIMEOUT_US = 86_400_000_000;

export async function runConformance(peerDir: string, filter: ConformanceOptions = {}): Promise<SuiteResult[]> {
  const observerOpts = {
    idleTimeoutUs: filter.idleTimeoutUs ?? CONFORMANCE_IDLE_TIMEOUT_US,
    activeTimeoutUs: filter.activeTimeoutUs ?? CONFORMANCE_ACTIVE_TIMEOUT_US,
  };
  const results = new Map<string, SuiteResult & { tally: Tally }>();
  for (const c of listCases(peerDir)) {
    if (filter.suite && c.suite !== filter.suite) continue;
    if (filter.case && c.name !== filter.case) continue;
    let r = results.get(c.suite);
    if (!r) {
      r = { suite: c.suite, cases: 0, fields_compared: 0, fields_matched: 0, exceptions: 0, mismatches: [], known_differences: [], tally: new Tally() };
      results.set(c.suite, r);
    }
    r.cases++;
    try {
      const out = await runCapture(c.capture, observerOpts);
      r.exceptions += out.observer.stats.internalErrors;
      const byComparer = new Map<Comparer, string[]>();
      for (const f of c.expected) {
        const cmp = comparerFor(c.suite, f);
        if (!cmp) continue;
        const l = byComparer.get(cmp) ?? [];
        l.push(f);
        byComparer.set(cmp, l);
      }
      for (const [cmp, files] of byComparer) cmp(c.name, c.dir, files, out, r.tally);
    } catch (e) {
      r.exceptions++;
      r.tally.mismatches.push({ case: c.name, file: c.capture, field: "exception", expected: null, got: e instanceof Error ? e.message : String(e) });
    }
  }
  return [...results.values()].map(({ tally, ...r }) => ({
    ...r,
    fields_compared: tally.compared,
    fields_matched: tally.matched,
    mismatches: tally.mismatches,
    known_differences: tally.known,
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "peer-dir": { type: "string" },
      json: { type: "boolean", default: false },
      suite: { type: "string" },
      case: { type: "string" },
      "max-mismatches": { type: "string", default: "5" },
      "idle-timeout": { type: "string", default: String(CONFORMANCE_IDLE_TIMEOUT_US / 1e6) },
      "active-timeout": { type: "string", default: String(CONFORMANCE_ACTIVE_TIMEOUT_US / 1e6) },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values["peer-dir"]) {
    process.stdout.write(
      "usage: npm run conformance -- --peer-dir <dir> [--json] [--suite <suite>] [--case <case>] [--max-mismatches N]\n" +
        "       [--idle-timeout seconds] [--active-timeout seconds]\n" +
        "Runs each capture under <dir>/<suite>/<case>/ through the collector's parsers and compares the fields we emit\n" +
        "with the expected output of Zeek, Suricata, Arkime, tcpdump and nDPI. One line per suite, then a summary.\n",
    );
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const max = Number(values["max-mismatches"]);
  const idle = Number(values["idle-timeout"]);
  const active = Number(values["active-timeout"]);
  if (!(idle > 0) || !(active > 0)) {
    process.stderr.write("--idle-timeout and --active-timeout take a positive number of seconds\n");
    process.exitCode = 2;
    return;
  }
  const results = await runConformance(values["peer-dir"], { suite: values.suite, case: values.case, idleTimeoutUs: idle * 1e6, activeTimeoutUs: active * 1e6 });
  let compared = 0;
  let matched = 0;
  let cases = 0;
  let exceptions = 0;
  for (const r of results) {
    compared += r.fields_compared;
    matched += r.fields_matched;
    cases += r.cases;
    exceptions += r.exceptions;
    const line = { ...r, mismatch_count: r.mismatches.length, mismatches: r.mismatches.slice(0, max) };
    if (values.json) process.stdout.write(JSON.stringify(line) + "\n");
    else {
      const pct = r.fields_compared ? ((100 * r.fields_matched) / r.fields_compared).toFixed(2) : "n/a";
      process.stdout.write(`${r.suite.padEnd(16)} cases ${String(r.cases).padStart(3)}  fields ${r.fields_matched}/${r.fields_compared} (${pct} %)  exceptions ${r.exceptions}\n`);
      for (const m of line.mismatches) process.stdout.write(`  ${m.case} ${m.file} ${m.field}: expected ${JSON.stringify(m.expected)} got ${JSON.stringify(m.got)}\n`);
      for (const k of r.known_differences.slice(0, max)) process.stdout.write(`  known difference ${k.case} ${k.file} ${k.field}: ${k.reason}\n`);
    }
  }
  const summary = { summary: true, suites: results.length, cases, fields_compared: compared, fields_matched: matched, match_rate: compared ? matched / compared : 0, exceptions };
  process.stdout.write((values.json ? JSON.stringify(summary) : `total: ${matched}/${compared} fields (${(100 * summary.match_rate).toFixed(2)} %), ${cases} cases, ${exceptions} exceptions`) + "\n");
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
