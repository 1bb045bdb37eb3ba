import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCsv } from "../../src/model/labelled-csv.js";

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
