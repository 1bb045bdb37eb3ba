// Runs every benchmark small, as CI must, to show each one works: it exits 0 and prints JSON lines whose
// figures are positive and whose ratios to the in-run reference are finite. Not a timing test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { REPO_ROOT } from "../../lib/src/stack-endpoints.js";

const run = promisify(execFile);

const SMALL: Record<string, string[]> = {
  "bench/avro.ts": ["--seconds", "0.2"],
  "bench/parse.ts": ["--seconds", "0.5"],
  "bench/ringbuf.ts": ["--events", "20000", "--rounds", "1"],
  "bench/xdp.ts": ["--repeat", "1000", "--trials", "1", "--no-veth"],
  "bench/aggregator.ts": ["--small"],
  "bench/kafka.ts": ["--records", "20000", "--clients", "stoq"],
  "bench/collector.ts": ["--queries", "2000", "--rounds", "1"],
};

async function jsonLines(script: string, args: string[]): Promise<Record<string, unknown>[]> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", join(REPO_ROOT, script), "--json", ...args], {
    cwd: REPO_ROOT,
    timeout: 240_000,
    maxBuffer: 16 << 20,
  });
  const lines = stdout.split("\n").filter((l) => l.trim().startsWith("{"));
  assert.ok(lines.length > 0, `${script} printed no JSON line:\n${stdout}`);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

for (const [script, args] of Object.entries(SMALL)) {
  test(`${script} runs small and prints figures with their in-run reference`, { timeout: 300_000 }, async () => {
    const rows = await jsonLines(script, args);
    const numbers = rows.flatMap((r) => Object.entries(r).filter(([, v]) => typeof v === "number")) as [string, number][];
    assert.ok(numbers.some(([, v]) => v > 0), `${script}: no positive figure in ${JSON.stringify(rows)}`);
    const ratios = numbers.filter(([k]) => k.includes("ratio"));
    assert.ok(ratios.length > 0, `${script}: no ratio to a reference in ${JSON.stringify(rows)}`);
    for (const [k, v] of ratios) assert.ok(Number.isFinite(v) && v > 0, `${script}: ${k} = ${v}`);
  });
}
