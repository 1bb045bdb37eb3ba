import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { listCases, runConformance } from "../src/conformance.js";
import { DATA } from "./tshark.js";

const PEER = join(DATA, "peer");

test("conformance on the peer set: every case parsed without an exception, >= 99 % of compared fields match", async () => {
  const results = await runConformance(PEER);
  const cases = results.reduce((a, r) => a + r.cases, 0);
  assert.equal(cases, listCases(PEER).length);
  for (const r of results) {
    assert.equal(r.exceptions, 0, `${r.suite}: ${JSON.stringify(r.mismatches.filter((m) => m.field === "exception"))}`);
    assert.ok(r.fields_compared > 20, `${r.suite} compared only ${r.fields_compared} fields`);
    assert.ok(r.fields_matched / r.fields_compared >= 0.99, `${r.suite}: ${r.fields_matched}/${r.fields_compared} ${JSON.stringify(r.mismatches.slice(0, 5))}`);
  }
  const compared = results.reduce((a, r) => a + r.fields_compared, 0);
  assert.ok(compared > 2000, `compared ${compared}`);
});

test("the comparison can fail: a wrong expectation is counted as a mismatch", async () => {
  const base = await runConformance(PEER, { suite: "zeek", case: "dns-dnskey" });
  // Slicing every flow at 1 µs changes what the flow-derived fields say and must show up as mismatches.
  const sliced = await runConformance(PEER, { suite: "zeek", case: "mixed-wikipedia-conn-dns", activeTimeoutUs: 1 });
  assert.equal(base[0]!.fields_matched, base[0]!.fields_compared);
  assert.ok(sliced[0]!.fields_matched < sliced[0]!.fields_compared);
});

test("npm run conformance -- --json prints one line per suite and a summary", () => {
  const out = execFileSync("npx", ["tsx", "services/collector/src/conformance.ts", "--peer-dir", PEER, "--json", "--suite", "tcpdump"], {
    cwd: new URL("../../../", import.meta.url).pathname,
    encoding: "utf8",
  });
  const lines = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!["suite"], "tcpdump");
  for (const k of ["cases", "fields_compared", "fields_matched", "mismatches"]) assert.ok(k in lines[0]!, k);
  assert.equal(lines[1]!["summary"], true);
});
