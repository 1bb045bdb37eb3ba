import assert from "node:assert/strict";
import { test } from "node:test";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { encodeName } from "../../../lib/src/model/features.js";
import { ngramRows } from "../../../lib/src/model/ngrams.js";
import type { LabelledName } from "../src/datasets.js";
import { nameRows } from "../src/name-features.js";

const names: LabelledName[] = [
  ...["google.com", "wikipedia.org", "www.bbc.co.uk", "mail.example.net"].map((name) => ({ name, label: 0 as const, kind: "benign" as const, family: "" })),
  ...["xpun.nl", "gunatcea.ru"].map((name) => ({ name, label: 1 as const, kind: "dga" as const, family: "x" })),
  { name: "aGVsbG8.t.example.org", label: 1, kind: "tunnel", family: "" },
];

function share(rows: ReturnType<typeof nameRows>, kind: string): number {
  const total = rows.reduce((s, r) => s + r.weight!, 0);
  return rows.filter((r) => r.kind === kind).reduce((s, r) => s + r.weight!, 0) / total;
}

test("loss weights: benign carry benignPrior of the total, tunnels tunnelShare of the rest, DGA the remainder", () => {
  const bigram = loadBigramTable();
  const even = nameRows(names, bigram, 8);
  assert.ok(Math.abs(share(even, "benign") - 0.8) < 1e-12 && Math.abs(share(even, "tunnel") - 0.1) < 1e-12 && Math.abs(share(even, "dga") - 0.1) < 1e-12);
  const skewed = nameRows(names, bigram, 8, 0.85, false, 2 / 3);
  assert.ok(Math.abs(share(skewed, "benign") - 0.85) < 1e-12);
  assert.ok(Math.abs(share(skewed, "tunnel") - 0.1) < 1e-12);
  assert.ok(Math.abs(share(skewed, "dga") - 0.05) < 1e-12);
});

test("rows carry the TLD row only when asked", () => {
  const bigram = loadBigramTable();
  const wire = encodeName("xpun.nl")!;
  assert.deepEqual(nameRows(names, bigram, 8)[4]!.rows, ngramRows(wire, 8));
  assert.deepEqual(nameRows(names, bigram, 8, 0.8, true)[4]!.rows, ngramRows(wire, 8, 0, true));
  assert.equal(nameRows(names, bigram, 0, 0.8, true)[4]!.rows, null);
});
