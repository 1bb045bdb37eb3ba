// Builds the feature_spec v1 bigram artifact (models/feature-spec-v1.json) from the non-held-out benign
// names. Deterministic: the same benign file always gives the same bytes.
import { writeFileSync } from "node:fs";
import { bigramArtifact, trainBigramTable, FEATURE_SPEC_ARTIFACT } from "../../../lib/src/model/bigram.js";
import { splitOf } from "../../../lib/src/model/dataset-split.js";
import { readCsvRecords, requireColumn } from "../../../lib/src/model/labelled-csv.js";

/** Trains the table on every benign name outside the held-out split and writes the JSON artifact. */
export function buildBigramArtifact(benignCsv: string, out: string = FEATURE_SPEC_ARTIFACT): void {
  const names = requireColumn(readCsvRecords(benignCsv), benignCsv, "domain").filter((d) => splitOf(d, 0) !== "heldout");
  const table = trainBigramTable(names);
  const artifact = bigramArtifact(table, "domains/benign.csv (non-held-out split, see lib/src/model/dataset-split.ts)", names.length);
  writeFileSync(out, JSON.stringify(artifact) + "\n");
}
