// Command line of the trainer's offline jobs: `npm run feature-spec` rebuilds the feature_spec v1
// artifacts, `npm run train` trains, quantizes, validates and signs the shipped model.
import { parseArgs } from "node:util";
import { buildBigramArtifact, writeFeatureHeader } from "./feature-spec-build.js";

const DATA = new URL("../../../../shared/data/", import.meta.url);

const [command, ...rest] = process.argv.slice(2);
if (command === "feature-spec") {
  const { values } = parseArgs({
    args: rest,
    options: { benign: { type: "string", default: new URL("domains/benign.csv", DATA).pathname }, help: { type: "boolean" } },
  });
  if (values.help) {
    console.log("npm run feature-spec -- [--benign FILE]: retrain the bigram table and regenerate models/stoq_feature_spec_v1.h");
  } else {
    buildBigramArtifact(values.benign);
    writeFeatureHeader();
    console.log("wrote models/feature-spec-v1.json and models/stoq_feature_spec_v1.h");
  }
} else {
  console.error(`unknown command "${command ?? ""}": use feature-spec or train`);
  process.exitCode = 2;
}
