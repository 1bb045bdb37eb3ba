// Conformance against Zeek logs (dns.log, conn.log, ssl.log, x509.log and zeek-cut subsets of them): joins
// each row to what we emitted for the same connection or certificate and compares the fields both carry.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { typeName, type DnsRecord } from "./dns.js";
import { tlsVersionName } from "./tls.js";
import type { CaseOutput, Tally } from "./conformance-score.js";
import { near, protoNumber, sameName, sameValue, tupleKey } from "./conformance-score.js";
import type { CertificateInfo } from "./x509.js";
import type { DnsObservation } from "./observer.js";

/*
 * Zeek ASCII log: "#separator \x09", "#set_separator ,", "#empty_field (empty)", "#unset_field -",
 * "#fields <names>" then one row per line. zeek-cut output drops the # lines and may start with a plain
 * header line of column names.
 */
export interface ZeekLog {
  readonly path: string;
  readonly rows: Record<string, string>[];
}

export function readZeekLog(text: string): ZeekLog {
  let fields: string[] | null = null;
  let path = "";
  const rows: Record<string, string>[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      if (line.startsWith("#fields\t")) fields = line.slice(8).split("\t");
      else if (line.startsWith("#path\t")) path = line.slice(6);
      continue;
    }
    const cols = line.split("\t");
    if (!fields) {
      fields = cols;
      continue;
    }
    const row: Record<string, string> = {};
    fields.forEach((f, i) => (row[f] = cols[i] ?? "-"));
    rows.push(row);
  }
  return { path, rows };
}

const UNSET = "-";

function set(v: string | undefined): string[] | null {
  if (v === undefined || v === UNSET) return null;
  if (v === "(empty)") return [];
  return v.split(",");
}

/** Which log a file holds: from its #path, else from its name (dns.log.cut, conn.log.cut.vlan-aware, ...). */
function logKind(file: string, log: ZeekLog): string {
  if (log.path) return log.path;
  const m = /^([a-z0-9_]+)\.log/.exec(basename(file));
  return m?.[1] ?? "";
}

export function compareZeek(caseName: string, dir: string, files: string[], out: CaseOutput, t: Tally): void {
  for (const file of files) {
    let log: ZeekLog;
    try {
      log = readZeekLog(readFileSync(`${dir}/${file}`, "utf8"));
    } catch {
      continue;
    }
    t.caseName = caseName;
    t.file = file;
    switch (logKind(file, log)) {
      case "dns":
        compareDns(log, out, t);
        break;
      case "conn":
        compareConn(log, out, t);
        break;
      case "ssl":
        compareSsl(log, out, t);
        break;
      case "x509":
        compareX509(log, out, t);
        break;
      default:
        // weird.log, http.log and script output: nothing we emit has a counterpart there.
        break;
    }
  }
}

interface Transaction {
  query: DnsObservation | null;
  response: DnsObservation | null;
}

/** Our messages grouped like Zeek's rows: a query with its first response, later responses on their own. */
function transactions(out: CaseOutput): Map<string, Transaction[]> {
  const byKey = new Map<string, Transaction[]>();
  for (const { obs } of out.dns) {
    const m = obs.message;
    // A response without a question section (mDNS announcements) is named by its first answer, as Zeek does.
    const qname = m.questions[0]?.name ?? m.answers[0]?.name ?? "";
    const key = tupleKey(obs.transport, obs.src, obs.srcPort, obs.dst, obs.dstPort) + `|${m.id}|${qname.toLowerCase()}`;
    let list = byKey.get(key);
    if (!list) byKey.set(key, (list = []));
    if (!m.qr) list.push({ query: obs, response: null });
    else {
      const open = list.find((x) => x.response === null && x.query !== null);
      if (open) open.response = obs;
      else list.push({ query: null, response: obs });
    }
  }
  return byKey;
}

// Zeek's DNS analyzer runs on these ports by default (DNS, mDNS, LLMNR); the collector parses the same.
const DNS_PORTS = new Set([53, 5353, 5355]);

/** Zeek's text for one answer RR (names lower-cased, as Zeek logs them) (base/protocols/dns/main.zeek event handlers). */
function zeekAnswer(rr: DnsRecord, owner: string): string | null {
  const d = rr.data;
  switch (d.kind) {
    case "address":
      return d.address;
    case "name":
      return d.name.toLowerCase();
    case "mx":
      return d.exchange.toLowerCase();
    case "srv":
      return d.target.toLowerCase();
    case "soa":
      return d.mname.toLowerCase();
    case "txt":
      return d.strings.map((s) => `${typeName(rr.type)} ${s.length} ${s}`).join(" ");
    case "rrsig":
      return `RRSIG ${d.typeCovered} ${d.signer.toLowerCase()}`;
    case "dnskey":
      return `DNSKEY ${d.algorithm}`;
    case "nsec":
      return `NSEC ${owner.toLowerCase()} ${d.next.toLowerCase()}`;
    case "ds":
      return `DS ${d.algorithm} ${d.digestType}`;
    case "raw":
      // BIND's private "signing signal" type.
      return rr.type === 65534 ? "BIND9 signing signal" : null;
    default:
      return null;
  }
}

function compareDns(log: ZeekLog, out: CaseOutput, t: Tally): void {
  const tx = transactions(out);
  for (const row of log.rows) {
    const proto = row["proto"] ?? "udp";
    const key =
      tupleKey(proto, row["id.orig_h"] ?? "", Number(row["id.orig_p"]), row["id.resp_h"] ?? "", Number(row["id.resp_p"])) +
      `|${row["trans_id"]}|${(row["query"] ?? "").toLowerCase()}`;
    const ports = [Number(row["id.orig_p"]), Number(row["id.resp_p"])];
    if (!ports.some((p) => DNS_PORTS.has(p))) {
      t.knownDifference("transaction", `port ${ports.join("/")} is not DNS (Zeek also logs NetBIOS name service here); the collector publishes DNS only`);
      continue;
    }
    const mine = tx.get(key)?.shift();
    if (!t.field("transaction", key, mine ? key : undefined)) continue;
    const q = mine!.query?.message ?? null;
    const r = mine!.response?.message ?? null;
    const any = (r ?? q)!;
    if (row["query"] !== undefined) t.field("query", row["query"], any.questions[0]?.name ?? any.answers[0]?.name, sameName);
    if (row["qtype"] !== undefined && row["qtype"] !== UNSET) t.field("qtype", Number(row["qtype"]), (q ?? any).questions[0]?.type);
    if (row["qclass"] !== undefined && row["qclass"] !== UNSET) t.field("qclass", Number(row["qclass"]), (q ?? any).questions[0]?.class);
    if (row["rcode"] !== undefined) t.field("rcode", row["rcode"], r ? String(r.rcode & 0x0f) : UNSET);
    const flag = (name: string, v: boolean, zeekOnlyWith: string | null): void => {
      const expected = row[name];
      if (expected === undefined) return;
      const got = v ? "T" : "F";
      // Zeek copies AA/RA from a response only while logging one of its answer RRs, and RD only from a
      // query; the header bits mean the same in every message (RFC 1035 4.1.1), so we report them as sent.
      if (expected !== got && zeekOnlyWith !== null) t.knownDifference(name, zeekOnlyWith);
      else t.field(name, expected, got);
    };
    const noAnswers = r !== null && r.answers.length === 0 ? "Zeek sets AA/RA only from a response that has answer RRs" : null;
    flag("AA", r ? r.aa : false, noAnswers);
    flag("TC", r ? r.tc : false, null);
    const zeekSawQuery = q !== null && row["qtype"] !== UNSET;
    flag("RD", (q ?? r)!.rd, zeekSawQuery ? null : "Zeek takes RD from the query only, and it did not pair a query with this row");
    flag("RA", r ? r.ra : false, noAnswers);
    const answers = set(row["answers"]);
    const rendered = r ? r.answers.map((rr) => zeekAnswer(rr, rr.name)) : [];
    if (row["answers"] !== undefined && r && rendered.every((x) => x !== null)) {
      t.field("answers", answers ?? [], rendered);
      const ttls = set(row["TTLs"]);
      if (row["TTLs"] !== undefined) t.field("TTLs", (ttls ?? []).map(Number), r.answers.map((a) => a.ttl));
    }
    if (row["rtt"] !== undefined && row["rtt"] !== UNSET) {
      const got = mine!.query && mine!.response ? (mine!.response.tsUs - mine!.query.tsUs) / 1e6 : undefined;
      t.field("rtt", Number(row["rtt"]), got, near(1.5e-6));
    }
  }
}

function compareConn(log: ZeekLog, out: CaseOutput, t: Tally): void {
  const flows = new Map<string, CaseOutput["flows"][number][]>();
  for (const f of out.flows) {
    const r = f.rec;
    const k = tupleKey(r.protocol, r.src_addr, r.src_port, r.dst_addr, r.dst_port);
    let l = flows.get(k);
    if (!l) flows.set(k, (l = []));
    l.push(f);
  }
  if (log.rows.some((r) => r["id.orig_h"] !== undefined && ((r["id.ctx.vlan"] ?? "-") !== "-" || (r["id.ctx.inner_vlan"] ?? "-") !== "-"))) {
    t.knownDifference("connection", "Zeek ran with a VLAN-aware connection key; our flow key is the 5-tuple, as in the kernel path");
    return;
  }
  for (const row of log.rows) {
    if (row["id.orig_h"] === undefined) continue;
    // zeek-cut subsets may drop the proto column: then any protocol with these endpoints will do.
    const protos = row["proto"] !== undefined ? [protoNumber(row["proto"])] : row["ip_proto"] !== undefined ? [Number(row["ip_proto"])] : [6, 17, 1, 58];
    let key = "";
    let mine: CaseOutput["flows"][number] | undefined;
    let icmp = false;
    for (const proto of protos) {
      // ICMP rows carry type/code in the port columns; our flows have no ports for ICMP.
      icmp = proto === 1 || proto === 58;
      key = tupleKey(proto, row["id.orig_h"], icmp ? 0 : Number(row["id.orig_p"]), row["id.resp_h"] ?? "", icmp ? 0 : Number(row["id.resp_p"]));
      mine = flows.get(key)?.shift();
      if (mine) break;
    }
    if (!t.field("connection", key, mine ? key : undefined)) continue;
    const r = mine!.rec;
    const same = r.src_addr === row["id.orig_h"] && (icmp || r.src_port === Number(row["id.orig_p"]));
    if (!same && (row["history"] ?? "").includes("^")) {
      t.knownDifference("originator", "Zeek guessed the originator and flipped the connection (history ^); our initiator is the sender of the first packet, as in the kernel path");
    } else t.field("originator", `${row["id.orig_h"]}:${row["id.orig_p"]}`, same ? `${row["id.orig_h"]}:${row["id.orig_p"]}` : `${r.src_addr}:${r.src_port}`);
    const [op, rp, ob, rb] = same ? [r.packets_fwd, r.packets_rev, r.bytes_fwd, r.bytes_rev] : [r.packets_rev, r.packets_fwd, r.bytes_rev, r.bytes_fwd];
    if (row["orig_pkts"] !== undefined) t.field("orig_pkts", Number(row["orig_pkts"]), op);
    if (row["resp_pkts"] !== undefined) t.field("resp_pkts", Number(row["resp_pkts"]), rp);
    if (row["orig_ip_bytes"] !== undefined) t.field("orig_ip_bytes", Number(row["orig_ip_bytes"]), ob);
    if (row["resp_ip_bytes"] !== undefined) t.field("resp_ip_bytes", Number(row["resp_ip_bytes"]), rb);
    if (row["duration"] !== undefined && row["duration"] !== UNSET) {
      t.field("duration", Number(row["duration"]), (r.last_seen_us - r.first_seen_us) / 1e6, near(1.5e-6));
    }
    if (row["community_id"] !== undefined && row["community_id"] !== UNSET) t.field("community_id", row["community_id"], r.community_id ?? undefined);
  }
}

function compareSsl(log: ZeekLog, out: CaseOutput, t: Tally): void {
  const sessions = new Map<string, (typeof out.tls)[number][]>();
  for (const s of out.tls) {
    const k = tupleKey(6, s.client, s.clientPort, s.server, s.serverPort);
    let l = sessions.get(k);
    if (!l) sessions.set(k, (l = []));
    l.push(s);
  }
  for (const row of log.rows) {
    const key = tupleKey(6, row["id.orig_h"] ?? "", Number(row["id.orig_p"]), row["id.resp_h"] ?? "", Number(row["id.resp_p"]));
    const s = sessions.get(key)?.shift();
    if (!t.field("session", key, s ? key : undefined)) continue;
    const v = row["version"];
    if (v !== undefined && v !== UNSET) {
      const sh = s!.serverHello;
      t.field("version", v, sh ? tlsVersionName(sh.selectedVersion) : undefined);
    }
    const sni = row["server_name"];
    if (sni !== undefined) t.field("server_name", sni, s!.clientHello?.sni ?? UNSET);
    const chain = set(row["cert_chain_fps"]);
    if (row["cert_chain_fps"] !== undefined) t.field("cert_chain_fps", chain ?? [], s!.serverChain.map((c) => c.sha256));
    const cchain = set(row["client_cert_chain_fps"]);
    if (row["client_cert_chain_fps"] !== undefined) t.field("client_cert_chain_fps", cchain ?? [], s!.clientChain.map((c) => c.sha256));
  }
}

/** OpenSSL's X509_NAME_print_ex with XN_FLAG_RFC2253, which Zeek uses: RFC 2253 order and escaping, bytes
 * above 0x7f of the UTF-8 form as \XX. */
export function openSslRfc2253(rdns: CertificateInfo["subjectRdns"]): string {
  return rdns
    .slice()
    .reverse()
    .map((r) => {
      let v = "";
      for (const byte of Buffer.from(r.value, "utf8")) {
        const c = String.fromCharCode(byte);
        if (byte > 0x7f) v += "\\" + byte.toString(16).toUpperCase().padStart(2, "0");
        else if (',+"\\<>;'.includes(c)) v += "\\" + c;
        else v += c;
      }
      if (v.startsWith(" ") || v.startsWith("#")) v = "\\" + v;
      if (v.endsWith(" ") && v.length > 1) v = v.slice(0, -1) + "\\ ";
      return `${r.type}=${v}`;
    })
    .join(",");
}

function compareX509(log: ZeekLog, out: CaseOutput, t: Tally): void {
  const byFp = new Map<string, CaseOutput["certs"][number]>();
  for (const c of out.certs) byFp.set(c.rec.sha256, c);
  for (const row of log.rows) {
    const fp = row["fingerprint"];
    if (fp === undefined) continue;
    const c = byFp.get(fp);
    if (!t.field("fingerprint", fp, c ? fp : undefined)) continue;
    const rec = c!.rec;
    const info = c!.obs.cert;
    const col = (name: string): string | undefined => {
      const v = row[name];
      return v === undefined || v === UNSET ? undefined : v;
    };
    const serial = col("certificate.serial");
    if (serial !== undefined) t.field("certificate.serial", serial.replace(/^0+(?=.)/, "").toLowerCase(), rec.serial);
    const subject = col("certificate.subject");
    if (subject !== undefined) t.field("certificate.subject", subject, openSslRfc2253(info.subjectRdns));
    const issuer = col("certificate.issuer");
    if (issuer !== undefined) t.field("certificate.issuer", issuer, openSslRfc2253(info.issuerRdns));
    const nb = col("certificate.not_valid_before");
    if (nb !== undefined) t.field("certificate.not_valid_before", Number(nb), rec.not_before_ms / 1000);
    const na = col("certificate.not_valid_after");
    if (na !== undefined) t.field("certificate.not_valid_after", Number(na), rec.not_after_ms / 1000);
    const sig = col("certificate.sig_alg");
    if (sig !== undefined) t.field("certificate.sig_alg", sig, rec.signature_algorithm);
    const kt = col("certificate.key_type");
    if (kt !== undefined) t.field("certificate.key_type", kt, { rsa: "rsa", ec: "ecdsa", dsa: "dsa" }[rec.key_algorithm] ?? rec.key_algorithm);
    const kl = col("certificate.key_length");
    if (kl !== undefined) t.field("certificate.key_length", Number(kl), rec.key_size);
    if (row["san.dns"] !== undefined) t.field("san.dns", set(row["san.dns"]) ?? [], rec.san_dns, sameValue);
    if (row["san.ip"] !== undefined) t.field("san.ip", set(row["san.ip"]) ?? [], rec.san_ip, sameValue);
    const ca = col("basic_constraints.ca");
    if (ca !== undefined) t.field("basic_constraints.ca", ca, rec.is_ca ? "T" : "F");
  }
}
