import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { splitOf } from "../../../lib/src/model/dataset-split.js";
import { readCsvRecords } from "../../../lib/src/model/labelled-csv.js";
import { QueryNameModel } from "../src/dga.js";
import { evalBenignTop, evalDga, evalFalsePositives, evalTunnel, readDomains, readTunnelQueries, reparented } from "../src/eval.js";

const SHARED = new URL("../../../../shared/data/", import.meta.url).pathname;
const model = new QueryNameModel();

/** A deterministic held-out sample: registered domains the trainer never read. */
function heldout(): { benign: string[]; dga: { name: string; family: string }[] } {
  const benign = readCsvRecords(`${SHARED}domains/benign.csv`)
    .map((r) => r.domain!)
    .filter((d) => splitOf(d, 0) === "heldout")
    .filter((_, i) => i % 4 === 0);
  const perFamily = new Map<string, number>();
  const dga: { name: string; family: string }[] = [];
  for (const r of readCsvRecords(`${SHARED}domains/dga.csv`)) {
    const n = perFamily.get(r.family!) ?? 0;
    if (n >= 100 || splitOf(r.domain!, 0) !== "heldout") continue;
    perFamily.set(r.family!, n + 1);
    dga.push({ name: r.domain!, family: r.family! });
  }
  return { benign, dga };
}

// 100 names per family weigh the hard observed families (nymaim, vawtrak, simda) more than the full
// held-out split does: the shipped model reaches AUC 0.968 here, 0.989 on the full split.
test("DGA on a held-out sample: AUC above its floor, int8 within 0.002 of float, every family reported", () => {
  const { benign, dga } = heldout();
  assert.ok(benign.length > 3000 && dga.length > 1000);
  const q = evalDga(model, benign, dga, "int8");
  const f = evalDga(model, benign, dga, "float");
  assert.ok(q.auc > 0.96, `int8 AUC ${q.auc}`);
  assert.ok(Math.abs(q.auc - f.auc) <= 0.002, `int8 ${q.auc} float ${f.auc}`);
  assert.equal(Object.keys(q.per_family_recall).length, 21);
  assert.ok(q.fpr_at_threshold < 0.01, `FPR at the deployed threshold ${q.fpr_at_threshold}`);
  assert.ok(q["tpr_at_fpr_1e-2"] >= q["tpr_at_fpr_1e-3"]);
});

// The goal (recall >= 0.99 at FPR <= 0.1 %) at the deployed threshold; the shipped model reaches recall
// 0.9996 at FPR 0.0004 on the whole split. Under held-out benign parents recall must stay above 0.97: a
// model that learned the tunnels' parent domains would lose it there.
test("tunnels on the netrack test split: recall and FPR within the goal at the deployed threshold, parents replaced too", () => {
  const rows = readTunnelQueries(`${SHARED}dns-tunnel/netrack/test.csv`).filter((_, i) => i % 5 === 0);
  const parents = heldout().benign;
  const r = evalTunnel(model, rows, "int8", parents);
  assert.equal(r.n, rows.length);
  assert.equal(r.unscored, 0);
  assert.ok(r.recall >= 0.99, JSON.stringify(r));
  assert.ok(r.fpr <= 0.001, JSON.stringify(r));
  assert.ok(r.recall_parent_replaced !== undefined && r.recall_parent_replaced > 0.97, JSON.stringify(r));
});

test("benign top: the highest-scoring benign names best first with their source, sources counted at FPR 1e-3 and 1e-2", () => {
  const names = [
    { name: "google.com", family: "unknown", source: "alexa" },
    { name: "wikipedia.org", family: "unknown", source: "alexa" },
    { name: "oxcfwwerbxd.com", family: "unknown", source: "opendns-top" },
    ...Array.from({ length: 1997 }, (_, i) => ({ name: `shop${i}.example.com`, family: "unknown", source: "alexa" })),
  ];
  const r = evalBenignTop(model, names, "int8", 5);
  assert.equal(r.n_benign, 2000);
  assert.deepEqual(r.n_by_source, { alexa: 1999, "opendns-top": 1 });
  assert.equal(r.at_fpr_1e_3, 2);
  assert.equal(r.top.length, 5);
  assert.deepEqual(r.top[0], { name: "oxcfwwerbxd.com", source: "opendns-top", score: model.score("oxcfwwerbxd.com")!.int8 });
  for (let i = 1; i < r.top.length; i++) assert.ok(r.top[i - 1]!.score >= r.top[i]!.score);
  assert.equal(Object.values(r.top_at_fpr_1e_3_by_source).reduce((a, b) => a + b, 0), 2);
  assert.equal(r.top_at_fpr_1e_3_by_source["opendns-top"], 1);
  assert.equal(Object.values(r.top_at_fpr_1e_2_by_source).reduce((a, b) => a + b, 0), 20);
});

test("reparented: the labels left of the registered domain move under the new parent", () => {
  assert.equal(reparented("r51646.tunnel.tuns.org.", "example.co.uk"), "r51646.tunnel.example.co.uk");
  assert.equal(reparented("q+Z8AnwaBA.hidemyself.org", "a.com."), "q+Z8AnwaBA.a.com");
});

test("false positives on ThreatFox legit names stay under 1 %", () => {
  const legit = readCsvRecords(`${SHARED}domains/threatfox/dev.csv`)
    .filter((r, i) => r.label === "legit" && i % 4 === 0)
    .map((r) => r.input!);
  const r = evalFalsePositives(model, "dev.csv", legit, "int8");
  assert.ok(r.fpr < 0.01, JSON.stringify(r));
});

test("readers: header name,label with commas in names, netrack's headerless label,qname, ThreatFox input column", () => {
  const dir = mkdtempSync(join(tmpdir(), "stoq-eval-"));
  try {
    writeFileSync(join(dir, "a.csv"), 'name,label\n"a,b.example.com",1\nwww.example.com,0\nbad,x\n');
    assert.deepEqual(readTunnelQueries(join(dir, "a.csv")), [
      { name: "a,b.example.com", label: 1 },
      { name: "www.example.com", label: 0 },
    ]);
    writeFileSync(join(dir, "b.csv"), "1,q+a,b.hidemyself.org.\n0,google.com.\n");
    assert.deepEqual(readTunnelQueries(join(dir, "b.csv")), [
      { name: "q+a,b.hidemyself.org.", label: 1 },
      { name: "google.com.", label: 0 },
    ]);
    writeFileSync(join(dir, "c.csv"), "what,ever\n1,2\n");
    assert.throws(() => readTunnelQueries(join(dir, "c.csv")), /name \(or qname\) and label/);
    writeFileSync(join(dir, "d.csv"), "input,class,label\nx.com,QakBot,malicious\n");
    assert.deepEqual(readDomains(join(dir, "d.csv")), [{ name: "x.com", family: "QakBot" }]);
    writeFileSync(join(dir, "s.csv"), "domain,source\nx.com,alexa\n");
    assert.deepEqual(readDomains(join(dir, "s.csv")), [{ name: "x.com", family: "unknown", source: "alexa" }]);
    writeFileSync(join(dir, "e.csv"), "host\nx.com\n");
    assert.throws(() => readDomains(join(dir, "e.csv")), /no "domain" column/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
