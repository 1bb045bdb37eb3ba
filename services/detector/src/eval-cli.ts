// `npm run eval`: scores labelled names with the shipped per-query model (int8 as the kernel scores it,
// and its float twin) and prints one JSON line per task and model. Never trains on its inputs.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isStoqError } from "../../../lib/src/errors.js";
import { DNS_QUERY_MODEL, loadModelArtifact } from "../../../lib/src/model/artifact.js";
import { QueryNameModel } from "./dga.js";
import { evalBenignTop, evalDga, evalFalsePositives, evalTunnel, readDomains, readLegit, readTunnelQueries, type ModelKind } from "./eval.js";
import { writeHeldout } from "./eval-heldout.js";
import { evalPcap, KINDS } from "./eval-pcap.js";

const DATA_DIR = fileURLToPath(new URL("../../../../shared/data", import.meta.url));

const HELP = `npm run eval -- [--json] [inputs]
Scores names with the shipped per-query model (models/dns-query.json); one line per task and model.
  --benign FILE --dga FILE   DGA task: CSVs with a domain column (family optional) -> AUC, TPR at FPR
                             1e-2 and 1e-3, per-family recall at the deployed threshold
  --tunnel FILE              tunnel task: CSV name,label (1 = tunnel), or netrack's headerless label,qname
                             -> precision, recall, FPR at the deployed threshold; with --benign also the
                             recall with each tunnel's registered domain replaced by a benign one
  --legit FILE               false positives on the legit rows of a ThreatFox-style CSV (input,class,label)
  --model FILE               another model file
  --top-benign N             with the DGA task: the N highest-scoring benign names with their source list
                             (a source column), and the sources of the top 0.1 % and 1 %
  --write-heldout DIR        write the held-out split of ../shared/data (--data DIR) as benign.csv, dga.csv,
                             tunnel.csv in DIR, then evaluate them
  --pcap FILE --expect KIND  pcap task (repeatable, paired in order): the capture through the collector's
                             parsing and the detectors -> detected, seconds to detection (capture time),
                             what else fired; KIND: ${Object.keys(KINDS).join(", ")}
  --json                     JSON lines (default: one readable line per task and model)`;

function readable(v: Record<string, unknown>): string {
  return Object.entries(v)
    .map(([k, x]) => `${k}=${typeof x === "number" ? Number(x.toFixed(4)) : typeof x === "string" ? x : JSON.stringify(x)}`)
    .join(" ");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      benign: { type: "string" },
      dga: { type: "string" },
      tunnel: { type: "string" },
      legit: { type: "string" },
      model: { type: "string", default: DNS_QUERY_MODEL },
      data: { type: "string", default: DATA_DIR },
      "write-heldout": { type: "string" },
      pcap: { type: "string", multiple: true },
      expect: { type: "string", multiple: true },
      json: { type: "boolean", default: false },
      "top-benign": { type: "string", default: "0" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const topBenign = Number(values["top-benign"]);
  if (!Number.isInteger(topBenign) || topBenign < 0) {
    console.error(`--top-benign ${values["top-benign"]}: expected a count`);
    return 2;
  }
  const inputs = { benign: values.benign, dga: values.dga, tunnel: values.tunnel, legit: values.legit };
  if (values["write-heldout"] !== undefined) {
    const files = writeHeldout(values.data, values["write-heldout"]);
    inputs.benign ??= files.benign;
    inputs.dga ??= files.dga;
    inputs.tunnel ??= files.tunnel;
  }
  if ((inputs.benign === undefined) !== (inputs.dga === undefined)) {
    console.error("--benign and --dga go together");
    return 2;
  }
  const pcaps = values.pcap ?? [];
  const expects = values.expect ?? [];
  if (pcaps.length !== expects.length) {
    console.error(`--pcap and --expect pair up: got ${pcaps.length} captures and ${expects.length} kinds`);
    return 2;
  }
  if (inputs.benign === undefined && inputs.tunnel === undefined && inputs.legit === undefined && pcaps.length === 0) {
    console.error(`nothing to evaluate\n${HELP}`);
    return 2;
  }
  const out = (v: object): void => console.log(values.json ? JSON.stringify(v) : readable(v as Record<string, unknown>));
  for (const [i, file] of pcaps.entries()) out(await evalPcap(file, expects[i]!));
  if (inputs.benign === undefined && inputs.tunnel === undefined && inputs.legit === undefined) return 0;
  const model = new QueryNameModel(loadModelArtifact(values.model));
  const kinds: ModelKind[] = ["int8", "float"];
  if (inputs.benign !== undefined && inputs.dga !== undefined) {
    const labelled = readDomains(inputs.benign);
    const benign = labelled.map((d) => d.name);
    const dga = readDomains(inputs.dga);
    for (const k of kinds) out(evalDga(model, benign, dga, k));
    if (topBenign > 0) for (const k of kinds) out(evalBenignTop(model, labelled, k, topBenign));
  }
  if (inputs.tunnel !== undefined) {
    const rows = readTunnelQueries(inputs.tunnel);
    // With a benign list at hand, tunnels are also scored under its domains (parents the model never saw as tunnels).
    const parents = inputs.benign === undefined ? [] : readDomains(inputs.benign).map((d) => d.name);
    for (const k of kinds) out(evalTunnel(model, rows, k, parents));
  }
  if (inputs.legit !== undefined) {
    const legit = readLegit(inputs.legit);
    for (const k of kinds) out(evalFalsePositives(model, inputs.legit, legit, k));
  }
  return 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  console.error(isStoqError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
}
