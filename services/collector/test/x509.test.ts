import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseCertificate, type CertificateInfo } from "../src/x509.js";
import { DATA } from "./tshark.js";

const DIR = join(DATA, "certs/badssl");

function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) rows.push([...row, cell]);
  return rows;
}

function chain(file: string): Buffer[] {
  const text = readFileSync(join(DIR, file), "latin1");
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
}

/** OpenSSL's RFC 2253 output escapes each UTF-8 byte above 0x7f as \XX; RFC 4514 allows the characters. */
function utf8(dn: string): string {
  return dn.replace(/(?:\\[0-9A-F]{2})+/g, (m) => Buffer.from(m.replace(/\\/g, ""), "hex").toString("utf8"));
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
function opensslTime(s: string): number {
  const m = /^(\w{3})\s+(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) GMT$/.exec(s)!;
  return Date.UTC(Number(m[6]), MONTHS.indexOf(m[1]!), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
}

test("badssl chains: every manifest column agrees with our parse (fixed expectations, no wall clock)", () => {
  const [header, ...rows] = csvRows(readFileSync(join(DIR, "manifest.csv"), "utf8"));
  const col = (name: string): number => header!.indexOf(name);
  assert.ok(rows.length >= 30);
  for (const r of rows) {
    const file = r[col("file")]!;
    const ders = chain(file);
    assert.equal(ders.length, Number(r[col("chain_len")]), `${file} chain length`);
    const leaf = parseCertificate(ders[0]!) as CertificateInfo;
    assert.equal(typeof leaf, "object", `${file} parses`);
    assert.equal(leaf.subject, utf8(r[col("leaf_subject")]!), `${file} subject`);
    assert.equal(leaf.issuer, utf8(r[col("leaf_issuer")]!), `${file} issuer`);
    assert.equal(leaf.notBeforeMs, opensslTime(r[col("not_before")]!), `${file} notBefore`);
    assert.equal(leaf.notAfterMs, opensslTime(r[col("not_after")]!), `${file} notAfter`);
    assert.equal(leaf.keyBits, Number(r[col("key_bits")]), `${file} key bits`);
    assert.equal(leaf.signatureAlgorithm, r[col("sig_alg")], `${file} signature algorithm`);
    assert.equal(leaf.sanDns.length, Number(r[col("san_dns_count")]), `${file} SAN count`);
    assert.equal(leaf.selfIssued, r[col("leaf_self_issued")] === "1", `${file} self-issued`);
    // node:crypto is the independent reference for what it exposes.
    const ref = new X509Certificate(ders[0]!);
    assert.equal(leaf.sha256, ref.fingerprint256.replace(/:/g, "").toLowerCase(), `${file} sha256`);
    const strip = (s: string): string => s.replace(/^0+(?=.)/, "").toUpperCase();
    assert.equal(strip(leaf.serial), strip(ref.serialNumber), `${file} serial`);
    assert.equal(leaf.isCa, ref.ca, `${file} CA`);
    for (const der of ders.slice(1)) assert.equal(typeof parseCertificate(der), "object", `${file} intermediate parses`);
  }
});

test("SCT list, CA flag and self-signature", () => {
  const sct = parseCertificate(chain("backup__wildcard-sha256-rsa2048-embeded-sct.crt")[0]!) as CertificateInfo;
  assert.equal(sct.hasSct, true);
  const noSct = parseCertificate(chain("subdomain-no-sct.pem")[0]!) as CertificateInfo;
  assert.equal(noSct.hasSct, false);
  const self = parseCertificate(chain("wildcard-self-signed.pem")[0]!) as CertificateInfo;
  assert.equal(self.selfSigned, true);
  const inter = parseCertificate(chain("wildcard-rsa2048.pem")[1]!) as CertificateInfo;
  assert.equal(inter.isCa, true);
  assert.equal(inter.selfSigned, false);
  const ecc = parseCertificate(chain("wildcard-ecc384.pem")[0]!) as CertificateInfo;
  assert.equal(ecc.keyType, "ecdsa");
  assert.equal(ecc.curve, "secp384r1");
});

test("malformed DER is an error kind at every truncation, never an exception", () => {
  const der = chain("wildcard-rsa2048.pem")[0]!;
  for (let n = 0; n < der.length; n += 7) {
    const r = parseCertificate(der.subarray(0, n));
    assert.equal(typeof r, "string", `prefix ${n}`);
  }
});
