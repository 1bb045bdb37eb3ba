// Conformance against Arkime session documents (sessions3[].body): each session is joined to our flow for the
// same endpoints, then its packet counts, times, TCP flag counts, DNS entries, TLS version and certificates
// are compared with what we emitted.
import { readFileSync } from "node:fs";
import { opcodeName, rcodeName, typeName, type DnsMessage } from "./dns.js";
import type { CaseOutput, Tally } from "./conformance-score.js";
import { sameName, sameValue, tupleKey } from "./conformance-score.js";

/*
 * <name>.test: { sessions3: [ { body: { source: {ip, port, packets, bytes}, destination: {...}, ipProtocol,
 *   firstPacket, lastPacket (epoch ms), network: {packets, community_id}, tcpflags: {syn, syn-ack, fin, rst, ...},
 *   dns: [{queryHost, qt, qc, opcode, status, headerFlags[], answers[{name, type, class, ttl, ip|cname|...}]}],
 *   tls: {version[]}, cert: [{subjectCN[], subjectON[], issuerCN[], issuerON[], serial, notBefore, notAfter,
 *   alt[], hash (SHA-1), publicAlgorithm}] } } ] }
 */

interface Endpoint {
  ip?: string;
  port?: number;
  packets?: number;
}

interface ArkimeDns {
  queryHost?: string;
  qt?: string;
  qc?: string;
  opcode?: string;
  status?: string;
  headerFlags?: string[];
  answers?: Record<string, unknown>[];
}

interface ArkimeCert {
  subjectCN?: string[];
  subjectON?: string[];
  issuerCN?: string[];
  issuerON?: string[];
  serial?: string;
  notBefore?: number;
  notAfter?: number;
  alt?: string[];
  hash?: string;
  publicAlgorithm?: string;
}

interface Session {
  source?: Endpoint;
  destination?: Endpoint;
  ipProtocol?: number;
  firstPacket?: number;
  lastPacket?: number;
  network?: { packets?: number; community_id?: string };
  tcpflags?: Record<string, number>;
  dns?: ArkimeDns[];
  tls?: { version?: string[] };
  cert?: ArkimeCert[];
}

const CLASS_NAMES: Record<number, string> = { 1: "IN", 3: "CH", 4: "HS", 255: "ANY" };
// Arkime spells RCODE 4 the long way.
const STATUS_ALIASES: Record<string, string> = { NOTIMPL: "NOTIMP" };
const KEY_ALGS: Record<string, string> = { rsa: "rsaEncryption", ec: "id-ecPublicKey", dsa: "dsaEncryption", ed25519: "ED25519" };

function arkimeTls(v: number): string {
  return v === 0x0300 ? "SSLv3" : v === 0x0301 ? "TLSv1" : v >> 8 === 0x7f ? `TLSv1.3-draft${v & 0xff}` : `TLSv1.${(v & 0xff) - 1}`;
}

export function compareArkime(caseName: string, dir: string, files: string[], out: CaseOutput, t: Tally): void {
  for (const file of files) {
    let doc: { sessions3?: { body?: Session }[] };
    try {
      doc = JSON.parse(readFileSync(`${dir}/${file}`, "utf8")) as typeof doc;
    } catch {
      continue;
    }
    t.caseName = caseName;
    t.file = file;
    const flows = new Map<string, CaseOutput["flows"][number][]>();
    for (const f of out.flows) {
      const k = tupleKey(f.rec.protocol, f.rec.src_addr, f.rec.src_port, f.rec.dst_addr, f.rec.dst_port);
      flows.set(k, [...(flows.get(k) ?? []), f]);
    }
    for (const s of (doc.sessions3 ?? []).map((x) => x.body ?? {})) {
      const src = s.source ?? {};
      const dst = s.destination ?? {};
      const key = tupleKey(s.ipProtocol ?? 0, src.ip ?? "", src.port ?? 0, dst.ip ?? "", dst.port ?? 0);
      const mine = flows.get(key)?.shift();
      if (!t.field("session", key, mine ? key : undefined)) continue;
      const r = mine!.rec;
      const same = r.src_addr === src.ip && r.src_port === (src.port ?? 0);
      if (!same) t.knownDifference("source", "Arkime chose the client by its own heuristic; our initiator is the sender of the first packet");
      const [sp, dp] = same ? [r.packets_fwd, r.packets_rev] : [r.packets_rev, r.packets_fwd];
      if (src.packets !== undefined) t.field("source.packets", src.packets, sp);
      if (dst.packets !== undefined) t.field("destination.packets", dst.packets, dp);
      if (s.network?.packets !== undefined) t.field("network.packets", s.network.packets, r.packets_fwd + r.packets_rev);
      if (s.network?.community_id !== undefined) t.field("network.community_id", s.network.community_id, r.community_id ?? undefined);
      if (s.firstPacket !== undefined) t.field("firstPacket", s.firstPacket, Math.floor(r.first_seen_us / 1000));
      if (s.lastPacket !== undefined) t.field("lastPacket", s.lastPacket, Math.floor(r.last_seen_us / 1000));
      const tf = s.tcpflags;
      if (tf && r.protocol === 6) {
        t.field("tcpflags.syn+syn-ack", (tf["syn"] ?? 0) + (tf["syn-ack"] ?? 0), r.syn_count);
        t.field("tcpflags.fin", tf["fin"] ?? 0, r.fin_count);
        t.field("tcpflags.rst", tf["rst"] ?? 0, r.rst_count);
      }
      compareDns(s.dns ?? [], out, key, t);
      compareTls(s, out, key, t);
    }
  }
}

function compareDns(entries: ArkimeDns[], out: CaseOutput, key: string, t: Tally): void {
  if (entries.length === 0) return;
  const msgs = out.dns.filter(({ obs }) => tupleKey(obs.transport === "tcp" ? 6 : 17, obs.src, obs.srcPort, obs.dst, obs.dstPort) === key).map((d) => d.obs.message);
  const used = new Set<DnsMessage>();
  for (const e of entries) {
    // Arkime keeps one entry per response (or per unanswered query): find ours by name and type.
    // Repeated questions are told apart by their first answer's TTL.
    const ttl = e.answers?.[0]?.["ttl"];
    const pick = (qr: boolean): DnsMessage | undefined => {
      const c = msgs.filter(
        (m) => m.qr === qr && !used.has(m) && sameName(m.questions[0]?.name ?? "", e.queryHost ?? "") && (e.qt === undefined || typeName(m.questions[0]?.type ?? 0) === e.qt),
      );
      return c.find((m) => m.answers[0]?.ttl === ttl) ?? c[0];
    };
    const m = pick(true) ?? pick(false);
    if (!t.field("dns.entry", `${e.queryHost}/${e.qt}`, m ? `${e.queryHost}/${e.qt}` : undefined)) continue;
    used.add(m!);
    const q = m!.questions[0];
    if (e.queryHost !== undefined) t.field("dns.queryHost", e.queryHost, q?.name, sameName);
    if (e.qt !== undefined) t.field("dns.qt", e.qt, q ? typeName(q.type) : undefined);
    if (e.qc !== undefined) t.field("dns.qc", e.qc, q ? (CLASS_NAMES[q.class] ?? String(q.class)) : undefined);
    if (e.opcode !== undefined) t.field("dns.opcode", e.opcode, opcodeName(m!.opcode));
    if (e.status !== undefined && m!.qr) t.field("dns.status", STATUS_ALIASES[e.status] ?? e.status, rcodeName(m!.rcode));
    if (e.headerFlags !== undefined) {
      const flags = (["AA", "TC", "RD", "RA"] as const).filter((f) => m![f.toLowerCase() as "aa" | "tc" | "rd" | "ra"]);
      t.field("dns.headerFlags", e.headerFlags.filter((f) => ["AA", "TC", "RD", "RA"].includes(f)).sort(), flags.sort());
    }
    // Arkime lists answer, authority and additional records in one array; we emit the answer section.
    (e.answers ?? []).slice(0, m!.answers.length).forEach((a, i) => {
      const rr = m!.answers[i]!;
      const p = `dns.answers[${i}]`;
      if (a["name"] !== undefined) t.field(`${p}.name`, a["name"], rr.name, sameName);
      if (a["type"] !== undefined) t.field(`${p}.type`, a["type"], typeName(rr.type));
      if (a["class"] !== undefined) t.field(`${p}.class`, a["class"], CLASS_NAMES[rr.class] ?? String(rr.class));
      if (a["ttl"] !== undefined) t.field(`${p}.ttl`, a["ttl"], rr.ttl);
      const d = rr.data;
      if (a["ip"] !== undefined) t.field(`${p}.ip`, a["ip"], d.kind === "address" ? d.address : undefined);
      if (a["cname"] !== undefined) t.field(`${p}.cname`, a["cname"], d.kind === "name" ? d.name : undefined, sameName);
      if (a["nameserver"] !== undefined) t.field(`${p}.nameserver`, a["nameserver"], d.kind === "name" ? d.name : undefined, sameName);
      if (a["mx"] !== undefined) t.field(`${p}.mx`, a["mx"], d.kind === "mx" ? d.exchange : undefined, sameName);
      if (a["priority"] !== undefined && d.kind === "mx") t.field(`${p}.priority`, a["priority"], d.preference);
      if (Array.isArray(a["txt"])) t.field(`${p}.txt`, a["txt"], d.kind === "txt" ? d.strings : undefined, sameValue);
    });
  }
}

function compareTls(s: Session, out: CaseOutput, key: string, t: Tally): void {
  const session = out.tls.find((x) => tupleKey(6, x.client, x.clientPort, x.server, x.serverPort) === key);
  const versions = s.tls?.version;
  if (versions && versions.length > 0) {
    const v = session?.serverHello?.selectedVersion;
    t.field("tls.version", versions, v === undefined ? undefined : [arkimeTls(v)]);
  }
  for (const c of s.cert ?? []) {
    // Joined on the SHA-1 fingerprint, which we compute but do not emit; the fields compared are emitted ones.
    const sha1 = (c.hash ?? "").replace(/:/g, "");
    const mine = out.certs.find((x) => x.obs.cert.sha1 === sha1 && key.includes(`|${x.obs.server}|${x.obs.serverPort}`));
    if (!t.field("cert", c.hash, mine ? c.hash : undefined)) continue;
    const info = mine!.obs.cert;
    const rec = mine!.rec;
    const attr = (rdns: typeof info.subjectRdns, type: string, lower: boolean): string[] =>
      rdns.filter((r) => r.type === type).map((r) => (lower ? r.value.toLowerCase() : r.value));
    // Arkime lower-cases common names and keeps organisation names as sent.
    if (c.subjectCN) t.field("cert.subjectCN", c.subjectCN, attr(info.subjectRdns, "CN", true));
    if (c.subjectON) t.field("cert.subjectON", c.subjectON, attr(info.subjectRdns, "O", false));
    if (c.issuerCN) t.field("cert.issuerCN", c.issuerCN, attr(info.issuerRdns, "CN", true));
    if (c.issuerON) t.field("cert.issuerON", c.issuerON, attr(info.issuerRdns, "O", false));
    if (c.serial !== undefined) t.field("cert.serial", c.serial.replace(/^0+(?=.)/, ""), rec.serial);
    if (c.notBefore !== undefined) t.field("cert.notBefore", c.notBefore, rec.not_before_ms);
    if (c.notAfter !== undefined) t.field("cert.notAfter", c.notAfter, rec.not_after_ms);
    if (c.alt !== undefined) t.field("cert.alt", [...c.alt].sort(), [...rec.san_dns.map((x) => x.toLowerCase()), ...rec.san_ip].sort());
    if (c.publicAlgorithm !== undefined) t.field("cert.publicAlgorithm", c.publicAlgorithm, KEY_ALGS[rec.key_algorithm] ?? rec.key_algorithm);
  }
}
