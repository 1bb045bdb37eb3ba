import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DEV_PUBLIC_KEY, loadModelArtifact } from "../../../lib/src/model/artifact.js";
import { FEATURE_SPEC } from "../../../lib/src/model/features.js";
import { sigmoid } from "../../../lib/src/model/float-mlp.js";
import { publicKeyFromPem } from "../../../lib/src/model/signing.js";
import { QueryNameModel } from "../src/dga.js";

test("the shipped model verifies with the shipped public key and is built for this feature_spec", () => {
  const m = loadModelArtifact(undefined, [publicKeyFromPem(readFileSync(DEV_PUBLIC_KEY, "utf8"))]);
  assert.equal(m.update.feature_spec, FEATURE_SPEC);
  assert.equal(m.quant.nIn, 16);
  assert.ok(sigmoid(m.quant.threshold * m.outputScale) >= m.threatThreshold);
});

test("scores: the kernel verdict is int8 >= threshold; popular names pass, random and tunnel names are threats", () => {
  const model = new QueryNameModel();
  for (const n of ["google.com", "www.wikipedia.org", "mail.example.co.uk", "login.microsoftonline.com"]) {
    const s = model.score(n);
    assert.ok(s !== null);
    assert.equal(s.threat, s.int8 >= model.model.quant.threshold);
    assert.equal(s.threat, false, `${n}: ${s.int8} (p ${s.probability.toFixed(3)})`);
  }
  for (const n of ["xjw3kq9zv7pfh2tq.com", "q+Z8AnwaBApRZ7/Vr9mNhAK3tXi.t.example.net"]) {
    const s = model.score(n);
    assert.ok(s?.threat, `${n}: ${s?.int8}`);
  }
  // Not valid DNS names: the kernel passes them unscored.
  assert.equal(model.score(".a.com"), null);
  assert.equal(model.score(`${"x".repeat(64)}.com`), null);
  // A "." byte inside a label (shown as an empty label in text) is part of the label, as on the wire.
  assert.notEqual(model.score("q+Z8..nwaB.example.net"), null);

});
