import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeName } from "../../src/model/features.js";
import { parseCsv, wireOfLabelledName } from "../../src/model/labelled-csv.js";

test("CSV: quotes, doubled quotes, commas and newlines in fields, CRLF, no final newline", () => {
  assert.deepEqual(parseCsv('a,b\r\n"x,y","say ""hi"""\n"multi\nline",z'), [
    ["a", "b"],
    ["x,y", 'say "hi"'],
    ["multi\nline", "z"],
  ]);
  assert.deepEqual(parseCsv("a,b\n\n1,\n"), [
    ["a", "b"],
    ["1", ""],
  ]);
});

test("labelled names to wire: plain names as encodeName; a dot byte shown as an empty label joins the label before it", () => {
  assert.deepEqual(wireOfLabelledName("www.example.com."), encodeName("www.example.com"));
  const w = wireOfLabelledName("ab..cd.hidemyself.org.");
  assert.deepEqual(Array.from(w ?? []), [3, 0x61, 0x62, 0x2e, 2, 0x63, 0x64, 10, ...Buffer.from("hidemyself"), 3, ...Buffer.from("org"), 0]);
  assert.deepEqual(Array.from(wireOfLabelledName("a...b.com") ?? []), [3, 0x61, 0x2e, 0x2e, 1, 0x62, 3, ...Buffer.from("com"), 0]);
  // Still no valid name: a leading empty label, a label over 63 bytes.
  assert.equal(wireOfLabelledName(".a.com"), null);
  assert.equal(wireOfLabelledName(`${"x".repeat(63)}..com`), null);
});
