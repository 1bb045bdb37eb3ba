import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { FEATURES } from "../../src/model/features.js";

test("docs/feature-spec.md lists every feature with the index, name, group, scale and range of FEATURES", () => {
  const doc = readFileSync(new URL("../../../docs/feature-spec.md", import.meta.url), "utf8");
  const rows = doc
    .split("\n")
    .filter((l) => /^\| \d+ \| [A-Z_]+ \|/.test(l))
    .map((l) => l.split("|").map((c) => c.trim()));
  assert.equal(rows.length, FEATURES.length);
  for (const [i, d] of FEATURES.entries()) {
    const r = rows[i]!;
    assert.equal(Number(r[1]), d.index);
    assert.equal(r[2], d.name);
    assert.equal(r[3], d.group);
    assert.ok(d.scale.startsWith(r[5]!), `${d.name}: scale "${r[5]}" vs "${d.scale}"`);
    assert.equal(r[6], `${d.min}..${d.max}`, d.name);
  }
});
