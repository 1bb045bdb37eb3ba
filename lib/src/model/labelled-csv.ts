// Reading the labelled name files the trainer learns from and the evaluation scores (RFC 4180 CSV with
// a header row), e.g. domains/benign.csv, dga.csv, threatfox/*.csv and the netrack tunnel names.
import { readFileSync } from "node:fs";
import { StoqError } from "../errors.js";
import { encodeName, wireOfLabels } from "./features.js";

/** Splits CSV text into rows of fields; quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.length === 0) quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Rows of a CSV file with a header, as objects keyed by column name. */
export function readCsvRecords(path: string): Record<string, string>[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new StoqError("CONFIG_INVALID", `cannot read ${path}: check the path`, { cause });
  }
  const [header, ...rows] = parseCsv(text);
  if (header === undefined) return [];
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h.trim(), r[i] ?? ""])));
}

/** The values of one required column; names the file and the columns it has when the column is missing. */
export function requireColumn(records: Record<string, string>[], path: string, column: string): string[] {
  const first = records[0];
  if (first !== undefined && !(column in first)) {
    throw new StoqError("CONFIG_INVALID", `${path} has no "${column}" column (columns: ${Object.keys(first).join(", ")})`);
  }
  return records.map((r) => r[column] ?? "");
}

/**
 * The wire form of a name as a labelled file writes it. A label's bytes may include "." (tunnel tools
 * send raw bytes), which the dotted text cannot tell from a label boundary: it shows as an empty label
 * ("ab..cd"). Such a dot is read back into the label before it (the wire name the tool sent had one
 * label there, not an empty one), so the name is scored as the kernel saw it instead of dropped. Null
 * when even that is no valid wire name.
 */
export function wireOfLabelledName(name: string): Uint8Array | null {
  const wire = encodeName(name);
  if (wire !== null) return wire;
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  if (!trimmed.includes("..")) return null;
  const labels: string[] = [];
  for (const part of trimmed.split(".")) {
    if (part.length === 0 && labels.length > 0) labels[labels.length - 1] += ".";
    else labels.push(part);
  }
  return wireOfLabels(labels);
}
