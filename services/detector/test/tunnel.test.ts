import assert from "node:assert/strict";
import { test } from "node:test";
import { loadBigramTable } from "../../../lib/src/model/bigram.js";
import { nameFeaturesOf } from "../../../lib/src/model/features.js";
import { threatKind } from "../src/tunnel.js";

const bigram = loadBigramTable();
const kind = (n: string): string => threatKind({ features: nameFeaturesOf(n, bigram)! });

test("threat kind: data left of the parent is a tunnel, randomness in the registered label is a DGA", () => {
  assert.equal(kind("q+Z8AnwaBA.hidemyself.org"), "tunnel");
  assert.equal(kind("dIUEABDEZOBAAAQAGRTXQUAAAAMFAAAAC37CAAFUWXXFR6HRPM6HIAEAAHRZAGA.t.example.org"), "tunnel");
  assert.equal(kind("a.b.1.29093.tunnel.example.org"), "tunnel");
  assert.equal(kind("xjw3kq9zv7pfh2tq.com"), "dga");
  assert.equal(kind("cvyh1po636avyrsxebwbkn7.ddns.net"), "dga");
});
