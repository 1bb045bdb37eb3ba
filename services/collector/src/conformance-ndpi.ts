// Conformance against ndpiReader's per-flow lines: packets per direction, the DNS name and first answer, the
// TLS SNI, version and leaf certificate (SANs, issuer, subject, validity) are compared with what we emitted.
import { readFileSync } from "node:fs";
import type { CaseOutput, Tally } from "./conformance-score.js";
import { protoNumber, sameName, tupleKey } from "./conformance-score.js";
import type { CertificateInfo } from "./x509.js";

/*
 * "\t<n>\t<PROTO> <src>:<port> <-> <dst>:<port> [VLAN: v][proto: ..]...[A pkts/B bytes <-> C pkts/D bytes]...
 *  [Hostname/SNI: name][<first DNS answer address>]...[TLSv1.2]...[ServerNames: a,b][Issuer: DN][Subject: DN]
 *  ...[Validity: YYYY-MM-DD HH:MM:SS - YYYY-MM-DD HH:MM:SS]..." (IPv6 addresses are bracketed).
 */
const FLOW_LINE = /^\t\d+\t(\w+) (\[[^\]]+\]|[^ ]+):(\d+) <-> (\[[^\]]+\]|[^ ]+):(\d+) (.*)$/;

function tags(rest: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of rest) {
    if (ch === "[") {
      if (depth > 0) cur += ch;
      depth++;
    } else if (ch === "]") {
      depth--;
      if (depth === 0) {
        out.push(cur);
        cur = "";
      } else cur += ch;
    } else if (depth > 0) cur += ch;
  }
  return out;
}

// nDPI prints only these attribute types of a DN, in certificate order.
const NDPI_DN_TYPES = new Set(["C", "ST", "L", "O", "OU", "CN"]);

function dn(rdns: CertificateInfo["subjectRdns"]): string {
  return rdns
    .filter((r) => NDPI_DN_TYPES.has(r.type))
    .map((r) => `${r.type}=${r.value}`)
    .join(", ");
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

function ndpiTls(v: number): string {
  return v === 0x0300 ? "SSLv3" : v === 0x0301 ? "TLSv1" : v >> 8 === 0x7f ? `TLSv1.3 (Draft ${v & 0xff})` : `TLSv1.${(v & 0xff) - 1}`;
}

export function compareNdpi(caseName: string, dir: string, files: string[], out: CaseOutput, t: Tally): void {
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(`${dir}/${file}`, "utf8");
    } catch {
      continue;
    }
    t.caseName = caseName;
    t.file = file;
    const flows = [...out.flows];
    for (const line of text.split("\n")) {
      const m = FLOW_LINE.exec(line);
      if (!m) continue;
      const [, protoName, a, ap, b, bp, rest] = m as unknown as [string, string, string, string, string, string, string];
      const strip = (x: string): string => x.replace(/^\[|\]$/g, "");
      const proto = protoNumber(protoName);
      const key = tupleKey(proto, strip(a), Number(ap), strip(b), Number(bp));
      const idx = flows.findIndex((f) => tupleKey(f.rec.protocol, f.rec.src_addr, f.rec.src_port, f.rec.dst_addr, f.rec.dst_port) === key);
      if (!t.field("flow", key, idx >= 0 ? key : undefined)) continue;
      const r = flows.splice(idx, 1)[0]!.rec;
      const same = r.src_addr === strip(a) && r.src_port === Number(ap);
      if (!same) t.knownDifference("flow direction", "nDPI chose the client by its own heuristic; our initiator is the sender of the first packet");
      const tg = tags(rest);
      const counts = tg.map((x) => /^(\d+) pkts\/\d+ bytes <-> (\d+) pkts\/\d+ bytes$/.exec(x)).find((x) => x);
      if (counts) {
        t.field("pkts c2s", Number(counts[1]), same ? r.packets_fwd : r.packets_rev);
        t.field("pkts s2c", Number(counts[2]), same ? r.packets_rev : r.packets_fwd);
      }
      const hostIdx = tg.findIndex((x) => x.startsWith("Hostname/SNI: "));
      const host = hostIdx >= 0 ? tg[hostIdx]!.slice(14) : undefined;
      const dns = out.dns.filter((d) => tupleKey(d.obs.transport === "tcp" ? 6 : 17, d.obs.src, d.obs.srcPort, d.obs.dst, d.obs.dstPort) === key);
      const tls = out.tls.find((s) => tupleKey(6, s.client, s.clientPort, s.server, s.serverPort) === key);
      if (host !== undefined && dns.length > 0) {
        t.field("Hostname", host, dns.find((d) => d.obs.message.questions[0])?.obs.message.questions[0]?.name, sameName);
        // The tag after the name is the first address answered (0.0.0.0 when none).
        const ip = tg[hostIdx + 1];
        if (ip !== undefined && /^[0-9a-f.:]+$/i.test(ip) && ip !== "0.0.0.0") {
          const firstAddr = dns.flatMap((d) => d.obs.message.answers).find((x) => x.data.kind === "address");
          const fault = dns.find((d) => d.obs.message.error !== null && d.obs.message.qr)?.obs.message.error;
          if (!firstAddr && fault) t.knownDifference("DNS first answer", `the response breaks RFC 1035 (${fault}); we stop reading at the fault, nDPI guesses past it`);
          else t.field("DNS first answer", ip, firstAddr?.data.kind === "address" ? firstAddr.data.address : undefined);
        }
      }
      if (!tls) continue;
      if (host !== undefined) t.field("SNI", host, tls.clientHello?.sni ?? undefined, sameName);
      const ver = tg.find((x) => /^(TLSv1(\.\d)?( \(Draft \d+\))?|SSLv3)$/.test(x));
      if (ver !== undefined && tls.serverHello) t.field("TLS version", ver, ndpiTls(tls.serverHello.selectedVersion));
      const leaf = tls.serverChain[0];
      if (!leaf) continue;
      const get = (name: string): string | undefined => tg.find((x) => x.startsWith(`${name}: `))?.slice(name.length + 2);
      const names = get("ServerNames");
      if (names !== undefined) t.field("ServerNames", names, leaf.sanDns.join(","));
      const issuer = get("Issuer");
      if (issuer !== undefined) t.field("Issuer", issuer, dn(leaf.issuerRdns));
      const subject = get("Subject");
      if (subject !== undefined) t.field("Subject", subject, dn(leaf.subjectRdns));
      const validity = get("Validity");
      if (validity !== undefined) t.field("Validity", validity, `${stamp(leaf.notBeforeMs)} - ${stamp(leaf.notAfterMs)}`);
    }
  }
}
