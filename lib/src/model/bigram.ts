// The benign character-bigram table of feature_spec v1: how it is trained from benign names, its
// artifact file (models/feature-spec-v1.json) and its BPF map value bytes (little-endian int16[40][40]).
// Kept in sync with docs/feature-spec.md ("Bigram table").
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { StoqError } from "../errors.js";
import { SYM, SYMBOLS, SYM_BOUNDARY } from "./feature-tables.js";

export const BIGRAM_ENTRIES = SYMBOLS * SYMBOLS;
export const BIGRAM_BYTES = BIGRAM_ENTRIES * 2;
/** Additive smoothing of the conditional counts: unseen bigrams get a finite, large surprise. */
const SMOOTHING = 0.5;

export const FEATURE_SPEC_ARTIFACT = fileURLToPath(new URL("../../../models/feature-spec-v1.json", import.meta.url));

export interface BigramArtifact {
  feature_spec: number;
  symbols: number;
  /** BIGRAM[prev * 40 + cur] = round(256 · log2 P(cur | prev)), row-major, int16. */
  bigram_q8: number[];
  /** Hex SHA-256 of the map value bytes (bigramBytes), so a collector can check what it loads. */
  sha256: string;
  trained_from: string;
  names: number;
}

/** Labels of a dotted name as bytes (UTF-8), without the empty root label. */
function labelsOf(name: string): Uint8Array[] {
  const enc = new TextEncoder();
  return name
    .replace(/\.$/, "")
    .split(".")
    .filter((l) => l.length > 0)
    .map((l) => enc.encode(l));
}

/**
 * Trains the table from benign names: every label except the last (the TLD) contributes its bigrams,
 * with the boundary symbol before the first and after the last byte.
 */
export function trainBigramTable(names: Iterable<string>): Int16Array {
  const counts = new Float64Array(BIGRAM_ENTRIES);
  for (const name of names) {
    const labels = labelsOf(name);
    for (let li = 0; li < labels.length - 1; li++) {
      let prev = SYM_BOUNDARY;
      for (const b of labels[li]!) {
        const s = SYM[b]!;
        counts[prev * SYMBOLS + s]! += 1;
        prev = s;
      }
      counts[prev * SYMBOLS + SYM_BOUNDARY]! += 1;
    }
  }
  const table = new Int16Array(BIGRAM_ENTRIES);
  for (let p = 0; p < SYMBOLS; p++) {
    let row = 0;
    for (let c = 0; c < SYMBOLS; c++) row += counts[p * SYMBOLS + c]!;
    for (let c = 0; c < SYMBOLS; c++) {
      const prob = (counts[p * SYMBOLS + c]! + SMOOTHING) / (row + SMOOTHING * SYMBOLS);
      table[p * SYMBOLS + c] = Math.max(-32768, Math.round(256 * Math.log2(prob)));
    }
  }
  return table;
}

/** The map value the kernel reads: int16 little-endian, row-major [prev][cur]. */
export function bigramBytes(table: Int16Array): Buffer {
  const buf = Buffer.alloc(BIGRAM_BYTES);
  for (let i = 0; i < BIGRAM_ENTRIES; i++) buf.writeInt16LE(table[i]!, i * 2);
  return buf;
}

export function bigramSha256(table: Int16Array): string {
  return createHash("sha256").update(bigramBytes(table)).digest("hex");
}

export function bigramArtifact(table: Int16Array, trainedFrom: string, names: number): BigramArtifact {
  return {
    feature_spec: 1,
    symbols: SYMBOLS,
    bigram_q8: Array.from(table),
    sha256: bigramSha256(table),
    trained_from: trainedFrom,
    names,
  };
}

/** Reads and checks the artifact; a table whose hash does not match its values is refused. */
export function loadBigramTable(path: string = FEATURE_SPEC_ARTIFACT): Int16Array {
  let parsed: BigramArtifact;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as BigramArtifact;
  } catch (cause) {
    throw new StoqError("MODEL_REJECTED", `cannot read the bigram table ${path}: retrain it with npm run train`, { cause });
  }
  if (parsed.feature_spec !== 1 || parsed.symbols !== SYMBOLS || parsed.bigram_q8?.length !== BIGRAM_ENTRIES) {
    throw new StoqError("MODEL_REJECTED", `${path} is not a feature_spec 1 bigram table of ${BIGRAM_ENTRIES} entries`);
  }
  const table = Int16Array.from(parsed.bigram_q8);
  if (bigramSha256(table) !== parsed.sha256) {
    throw new StoqError("MODEL_REJECTED", `${path}: sha256 does not match the table values (file edited or corrupt)`);
  }
  return table;
}
