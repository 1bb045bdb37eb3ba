import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { groupKey, splitOf } from "../../../lib/src/model/dataset-split.js";
import { defaultDataPaths, loadTrainingNames, tunnelPayload, DEFAULT_DATASET_OPTIONS } from "../src/datasets.js";

test("tunnel payload: the tool's zone (or the registered domain) is cut off", () => {
  assert.equal(tunnelPayload("q+Z8AnwaBA.hidemyself.org."), "q+Z8AnwaBA");
  assert.equal(tunnelPayload("r51646.tunnel.tuns.org."), "r51646");
  assert.equal(tunnelPayload("a.b.1.2.tunnel.example.org"), "a.b.1.2");
  assert.equal(tunnelPayload("xyz.abc.other.co.uk"), "xyz.abc");
});

function fixture(): string {
  const dir = mkdtempSync(join(tmpdir(), "stoq-data-"));
  mkdirSync(join(dir, "domains"));
  mkdirSync(join(dir, "dns-tunnel/netrack"), { recursive: true });
  const benign = Array.from({ length: 300 }, (_, i) => `site${i}.com`);
  writeFileSync(join(dir, "domains/benign.csv"), ["domain,source", ...benign.map((d) => `${d},test`)].join("\n"));
  const dga = Array.from({ length: 300 }, (_, i) => `${(i * 7919).toString(36)}qzx${i}.net,${i % 2 ? "fam-a" : "fam-b"},test`);
  writeFileSync(join(dir, "domains/dga.csv"), ["domain,family,source", ...dga].join("\n"));
  const tun = (n: number) => Array.from({ length: n }, (_, i) => (i % 3 ? `1,x${i}y${i}z.tunnel.tuns.org.` : `0,plain${i}.com.`)).join("\n");
  writeFileSync(join(dir, "dns-tunnel/netrack/train.csv"), tun(60));
  writeFileSync(join(dir, "dns-tunnel/netrack/validate.csv"), tun(30));
  return dir;
}

test("training names: no held-out registered domain, no tunnel parent zone, deterministic for a seed", () => {
  const dir = fixture();
  try {
    const opts = { ...DEFAULT_DATASET_OPTIONS, perFamily: 50 };
    const a = loadTrainingNames(defaultDataPaths(dir), opts);
    const b = loadTrainingNames(defaultDataPaths(dir), opts);
    assert.deepEqual(a, b);
    const all = [...a.train, ...a.validation];
    for (const n of all) {
      if (n.kind === "tunnel") assert.ok(!n.name.includes("tuns.org"), n.name);
      if (n.kind !== "tunnel" && !n.name.endsWith("in-addr.arpa")) assert.notEqual(splitOf(n.name, 0.2), "heldout", n.name);
    }
    for (const n of a.validation) if (n.kind === "dga") assert.equal(splitOf(n.name, 0.2), "validation");
    for (const fam of ["fam-a", "fam-b"]) assert.ok(a.train.filter((n) => n.family === fam).length <= 50);
    const kinds = new Set(all.map((n) => n.kind));
    assert.deepEqual([...kinds].sort(), ["benign", "dga", "tunnel"]);
    assert.ok(all.some((n) => n.family === "benign-host"));
    // a registered domain never straddles train and validation
    const side = new Map<string, string>();
    for (const [part, names] of Object.entries(a)) {
      for (const n of names as { name: string; kind: string }[]) {
        if (n.kind === "tunnel" || n.name.endsWith("in-addr.arpa") || n.name.endsWith(".")) continue;
        const k = groupKey(n.name);
        assert.ok((side.get(k) ?? part) === part, k);
        side.set(k, part);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
