// Conformance against tcpdump's DNS lines (`tcpdump -# -n [-v..]`): per packet number, the DNS id, header
// flags, response code, question, section counts, address/name answers and message length are compared with
// what we parsed from the same packet; tcpdump's malformed-message markers must match a fault we counted.
import { readFileSync } from "node:fs";
import { rcodeName, typeName, type DnsMessage } from "./dns.js";
import type { CaseOutput, Tally } from "./conformance-score.js";
import { sameName } from "./conformance-score.js";

/*
 * A packet starts with "<#> <date> <time> " (-#, -tttt); -v puts the IP header on the first line and the rest on
 * an indented second one. DNS text after "<src>.<port> > <dst>.<port>: " ([udp sum ok] / TCP header first):
 *   query:    <id>[ <opcode>][+][$][%][ [<n>a][ [<n>n]][ [<n>au]] <TYPE>? <name>. [ar: ...] (<len>)
 *   response: <id>[ <opcode>][ <Rcode>][*][-][|][$][ [<n>q]][ q: <TYPE>? <name>.] <an>/<ns>/<ar> <answers> (<len>)
 *   broken:   "[length N < 12] (invalid)", "[|domain]", "<BAD PTR>", "<DOMAIN NAME TOO LONG>"
 */
const PACKET_START = /^\s*(\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ /;
const ENDPOINTS = /(?:^|\s)([0-9a-fA-F:.]+)\.(\d+) > ([0-9a-fA-F:.]+)\.(\d+): (.*)$/s;
const HEADER = /^(\d+)((?: (?:notify|update|inv_q|stat|op\d+|updateA|updateD|updateDA|updateM|updateMA|zoneInit|zoneRef))?)((?: [A-Z][A-Za-z]+)?)([+*\-|$%]*)(.*)$/s;

// tcpdump's names for response codes (ns_rcode), mapped to ours.
const RCODES: Record<string, string> = {
  FormErr: "FORMERR",
  ServFail: "SERVFAIL",
  NXDomain: "NXDOMAIN",
  NotImp: "NOTIMP",
  Refused: "REFUSED",
  YXDomain: "YXDOMAIN",
  YXRRSet: "YXRRSET",
  NXRRSet: "NXRRSET",
  NotAuth: "NOTAUTH",
  NotZone: "NOTZONE",
  BadVers: "BADVERS",
};

function packets(text: string): Map<number, string> {
  const out = new Map<number, string>();
  let cur = -1;
  for (const line of text.split("\n")) {
    const m = PACKET_START.exec(line);
    if (m) {
      cur = Number(m[1]);
      out.set(cur, line.slice(m[0].length));
    } else if (cur >= 0 && line.trim() !== "") out.set(cur, `${out.get(cur)} ${line.trim()}`);
  }
  return out;
}

/** The DNS part of a packet line, after the transport header. */
function dnsText(rest: string): string {
  let s = rest.replace(/^\[(udp sum ok|bad udp cksum [^\]]*)\] /, "");
  const tcp = /^Flags \[[^\]]*\],.*?, length \d+ (.*)$/s.exec(s);
  if (tcp) s = tcp[1]!;
  else if (s.startsWith("Flags [")) return "";
  return s;
}

export function compareTcpdump(caseName: string, dir: string, files: string[], out: CaseOutput, t: Tally): void {
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(`${dir}/${file}`, "utf8");
    } catch {
      continue;
    }
    t.caseName = caseName;
    t.file = file;
    for (const [n, line] of packets(text)) {
      const ep = ENDPOINTS.exec(line);
      if (!ep) continue;
      const [, , sport, , dport, rest] = ep as unknown as [string, string, string, string, string, string];
      if (sport !== "53" && dport !== "53" && sport !== "5353" && dport !== "5353") continue;
      const dns = dnsText(rest);
      if (dns === "") continue;
      const mine = out.dnsByPacket.get(n)?.[0]?.message;
      const faults = out.faultsByPacket.get(n) ?? [];
      if (/\(invalid\)|\[\|domain\]|<BAD PTR>|<DOMAIN NAME TOO LONG>|\[\|/.test(dns)) {
        const ourFault = faults.length > 0 || (mine?.error ?? null) !== null;
        t.field(`packet ${n} malformed`, true, ourFault);
        continue;
      }
      compareLine(n, dns, mine, t);
    }
  }
}

function compareLine(n: number, dns: string, m: DnsMessage | undefined, t: Tally): void {
  const h = HEADER.exec(dns);
  if (!h) return;
  const [, id, , rcodeText, flags, tail] = h as unknown as [string, string, string, string, string, string];
  const p = `packet ${n}`;
  if (!t.field(`${p} id`, Number(id), m?.id)) return;
  const msg = m!;
  const counts = /(?:^|\s)(\d+)\/(\d+)\/(\d+)(?:\s|$)/.exec(tail);
  const isResponse = counts !== null;
  t.field(`${p} qr`, isResponse, msg.qr);
  const len = /\((\d+)\)\s*$/.exec(tail);
  if (len) t.field(`${p} length`, Number(len[1]), msg.size);
  if (!isResponse) {
    t.field(`${p} rd`, flags.includes("+"), msg.rd);
    const q = /(?:^|\s)([A-Za-z0-9]+)\? (\S+)/.exec(tail);
    if (q) {
      t.field(`${p} qtype`, q[1], msg.questions[0] ? typeName(msg.questions[0].type) : undefined);
      t.field(`${p} qname`, q[2], msg.questions[0]?.name, sameName);
    }
    return;
  }
  t.field(`${p} aa`, flags.includes("*"), msg.aa);
  t.field(`${p} ra`, !flags.includes("-"), msg.ra);
  t.field(`${p} tc`, flags.includes("|"), msg.tc);
  const rc = rcodeText.trim();
  t.field(`${p} rcode`, rc === "" ? "NOERROR" : (RCODES[rc] ?? rc.toUpperCase()), rcodeName(msg.rcode));
  t.field(`${p} counts`, `${counts[1]}/${counts[2]}/${counts[3]}`, `${msg.counts.an}/${msg.counts.ns}/${msg.counts.ar}`);
  const q = / q: ([A-Za-z0-9]+)\? (\S+)/.exec(tail);
  if (q) {
    t.field(`${p} qtype`, q[1], msg.questions[0] ? typeName(msg.questions[0].type) : undefined);
    t.field(`${p} qname`, q[2], msg.questions[0]?.name, sameName);
  }
  // Answers run from after the counts to " ns:", " ar:" or the length; each is "[owner. ][[ttl] ]TYPE data".
  const after = tail.slice(counts.index + counts[0].length).replace(/\s*\(\d+\)\s*$/, "");
  const answerText = after.split(/ (?:ns|ar): /)[0] ?? "";
  const answers = answerText === "" ? [] : answerText.split(", ");
  answers.slice(0, msg.answers.length).forEach((a, i) => {
    const rr = msg.answers[i]!;
    const m = /(?:^|\s)(A|AAAA|CNAME|PTR|NS) (\S+)$/.exec(a);
    if (!m) return;
    t.field(`${p} answer[${i}].type`, m[1], typeName(rr.type));
    const d = rr.data;
    const got = d.kind === "address" ? d.address : d.kind === "name" ? d.name : undefined;
    t.field(`${p} answer[${i}].data`, m[2], got, sameName);
  });
}
