import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { groupKey, splitOf } from "../../../lib/src/model/dataset-split.js";
import { encodeName } from "../../../lib/src/model/features.js";
import { defaultDataPaths, loadTrainingNames, redrawDigits, seededRandom, tunnelPayload, DEFAULT_DATASET_OPTIONS } from "../src/datasets.js";

test("tunnel payload: the tool's zone (or the registered domain) is cut off", () => {
  assert.equal(tunnelPayload("q+Z8AnwaBA.hidemyself.org."), "q+Z8AnwaBA");
  assert.equal(tunnelPayload("r51646.tunnel.tuns.org."), "r51646");
  assert.equal(tunnelPayload("a.b.1.2.tunnel.example.org"), "a.b.1.2");
  assert.equal(tunnelPayload("xyz.abc.other.co.uk"), "xyz.abc");
});

test("tunnel payload digits are drawn anew (a capture's counter values are not a tunnel's signature), letters kept", () => {
  const rnd = seededRandom(1);
  const out = Array.from({ length: 50 }, () => redrawDigits(rnd, "r51646"));
  for (const o of out) assert.match(o, /^r[0-9]{5}$/);
  assert.ok(new Set(out).size > 40);
  assert.equal(redrawDigits(rnd, "abc-XYZ.q+/"), "abc-XYZ.q+/");
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
      if (n.kind !== "tunnel" && !n.name.endsWith(".arpa")) assert.notEqual(splitOf(n.name, 0.2), "heldout", n.name);
    }
    for (const n of a.validation) if (n.kind === "dga") assert.equal(splitOf(n.name, 0.2), "validation");
    for (const fam of ["fam-a", "fam-b"]) assert.ok(a.train.filter((n) => n.family === fam).length <= 50);
    const kinds = new Set(all.map((n) => n.kind));
    assert.deepEqual([...kinds].sort(), ["benign", "dga", "tunnel"]);
    const hosts = all.filter((n) => n.family === "benign-host");
    assert.ok(hosts.length > 50);
    // Host names are valid wire names, and some are machine-made (digits and hyphens in the sub part).
    for (const h of hosts) assert.notEqual(encodeName(h.name), null, h.name);
    assert.ok(hosts.some((h) => /^[a-z-]*[0-9]+[-.][0-9]+/.test(h.name)), "address-derived host names");
    for (const t of all.filter((n) => n.kind === "tunnel")) assert.doesNotMatch(t.name, /^x[0-9]+y[0-9]+z\.tunnel\./);
    // a registered domain never straddles train and validation
    const side = new Map<string, string>();
    for (const [part, names] of Object.entries(a)) {
      for (const n of names as { name: string; kind: string }[]) {
        if (n.kind === "tunnel" || n.name.endsWith(".arpa") || n.name.endsWith(".")) continue;
        const k = groupKey(n.name);
        assert.ok((side.get(k) ?? part) === part, k);
        side.set(k, part);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
