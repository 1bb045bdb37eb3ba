// bpf/feature_tables.h, the kernel's copy of the feature_spec lookup tables, is exactly what
// feature-tables-header.ts renders from lib/src/model/feature-tables.ts (regenerate it when this fails).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { BPF_DIR } from "./kernel.js";
import { renderFeatureTablesHeader } from "./feature-tables-header.js";

test("bpf/feature_tables.h equals the tables rendered from the TypeScript reference", () => {
  assert.equal(
    readFileSync(`${BPF_DIR}feature_tables.h`, "utf8"),
    renderFeatureTablesHeader(),
    "regenerate: node --import tsx test/kernel/feature-tables-header.ts > bpf/feature_tables.h",
  );
});
