// Conformance against suricata-verify checks: our output is rendered as Suricata EVE records (dns v2/v3, tls,
// flow) restricted to the fields we emit, and each filter's expected pairs and record count are compared.
import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { rcodeName, typeName, type DnsMessage, type DnsRecord } from "./dns.js";
import { TCP_FLAG } from "./packet.js";
import type { CaseOutput, Tally } from "./conformance-score.js";
import { sameName, sameValue } from "./conformance-score.js";
import type { CertificateInfo } from "./x509.js";

/*
 * <test>.test.yaml: { requires?, args?, checks: [{ filter: { count, match: { "dotted.eve.path[i]": value } } }] }
 * An EVE record matches a filter when every listed path has the listed value; exactly `count` must match.
 * <test>.suricata.yaml overlays the config: outputs[].eve-log.types[].dns { version, requests, responses, types }.
 */

type Eve = Map<string, unknown>;

interface DnsLogConfig {
  version: number;
  requests: boolean;
  responses: boolean;
  types: Set<string> | null;
}

// Paths we render from what we emit; any other path in a filter has no counterpart and is not compared.
const COMPARABLE = [
  /^event_type$/,
  /^(src|dest)_(ip|port)$/,
  /^proto$/,
  /^community_id$/,
  /^dns\.(type|id|flags|qr|aa|tc|rd|ra|z|ad|cd|rcode|opcode|rrname|rrtype|version)$/,
  /^dns\.queries\[\d+\]\.(rrname|rrtype)$/,
  /^dns\.answers\[\d+\]\.(rrname|rrtype|ttl|rdata)$/,
  /^dns\.answers\[\d+\]\.srv\.(priority|weight|port|name)$/,
  /^dns\.answers\.__len$/,
  /^dns\.grouped\.[A-Z0-9]+\[\d+\]$/,
  /^tls\.(sni|version|subject|issuerdn|serial|notbefore|notafter)$/,
  /^tls\.subjectaltname\[\d+\]$/,
  /^flow\.(pkts_toserver|pkts_toclient|age)$/,
  /^tcp\.(tcp_flags|tcp_flags_ts|tcp_flags_tc|syn|fin|rst|psh|ack|urg|ecn|cwr)$/,
];

const EVENT_TYPES = new Set(["dns", "tls", "flow"]);

function comparable(path: string): boolean {
  return COMPARABLE.some((re) => re.test(path));
}

function dnsConfig(overlayPath: string): DnsLogConfig {
  const cfg: DnsLogConfig = { version: 3, requests: true, responses: true, types: null };
  if (!existsSync(overlayPath)) return cfg;
  const doc = parseYaml(readFileSync(overlayPath, "utf8")) as { outputs?: Record<string, unknown>[] } | null;
  for (const o of doc?.outputs ?? []) {
    const eve = o["eve-log"] as { types?: unknown[] } | undefined;
    for (const t of eve?.types ?? []) {
      const dns = (t as Record<string, unknown> | null)?.["dns"] as Record<string, unknown> | undefined;
      if (!dns || typeof dns !== "object") continue;
      if (dns["version"] !== undefined) cfg.version = Number(dns["version"]);
      if (dns["requests"] !== undefined) cfg.requests = dns["requests"] === true || dns["requests"] === "yes";
      if (dns["responses"] !== undefined) cfg.responses = dns["responses"] === true || dns["responses"] === "yes";
      if (Array.isArray(dns["types"])) cfg.types = new Set((dns["types"] as string[]).map((x) => String(x).toUpperCase()));
    }
  }
  return cfg;
}

/** Suricata's rdata text: addresses and names as such, TXT as its text, others in presentation form. */
function rdata(rr: DnsRecord): string {
  const d = rr.data;
  switch (d.kind) {
    case "address":
      return d.address;
    case "name":
      return d.name;
    case "mx":
      return d.exchange;
    case "txt":
      return d.strings.join("");
    default:
      return "";
  }
}

function proto(n: number): string {
  return n === 6 ? "TCP" : n === 17 ? "UDP" : n === 1 ? "ICMP" : n === 58 ? "IPv6-ICMP" : String(n);
}

function dnsRecords(out: CaseOutput, cfg: DnsLogConfig): Eve[] {
  const eves: Eve[] = [];
  for (const { obs } of out.dns) {
    const m: DnsMessage = obs.message;
    if (m.qr ? !cfg.responses : !cfg.requests) continue;
    const answers = cfg.types ? m.answers.filter((a) => cfg.types!.has(typeName(a.type))) : m.answers;
    if (cfg.types && !m.questions.some((q) => cfg.types!.has(typeName(q.type))) && answers.length === 0) continue;
    const e: Eve = new Map<string, unknown>([
      ["event_type", "dns"],
      ["src_ip", obs.src],
      ["src_port", obs.srcPort],
      ["dest_ip", obs.dst],
      ["dest_port", obs.dstPort],
      ["proto", obs.transport.toUpperCase()],
    ]);
    const d = (k: string, v: unknown): void => void e.set(`dns.${k}`, v);
    d("id", m.id);
    d("version", cfg.version);
    const v3 = cfg.version >= 3;
    if (v3) d("type", m.qr ? "response" : "request");
    else d("type", m.qr ? "answer" : "query");
    if (!v3 && m.qr) {
      // Version 2 logs both directions with the flow's client-to-server orientation.
      e.set("src_ip", obs.dst);
      e.set("src_port", obs.dstPort);
      e.set("dest_ip", obs.src);
      e.set("dest_port", obs.srcPort);
    }
    if (m.qr || v3) {
      d("flags", m.flags.toString(16));
      for (const [k, v] of [["qr", m.qr], ["aa", m.aa], ["tc", m.tc], ["rd", m.rd], ["ra", m.ra], ["z", m.z], ["ad", m.ad], ["cd", m.cd]] as const) {
        if (v) d(k, true);
      }
    }
    d("opcode", m.opcode);
    if (m.qr) d("rcode", rcodeName(m.rcode));
    if (v3) {
      m.questions.forEach((q, i) => {
        d(`queries[${i}].rrname`, q.name);
        d(`queries[${i}].rrtype`, typeName(q.type));
      });
    } else if (m.questions[0]) {
      d("rrname", m.questions[0].name);
      d("rrtype", typeName(m.questions[0].type));
    }
    if (m.qr) {
      d("answers.__len", answers.length);
      const grouped = new Map<string, number>();
      answers.forEach((a, i) => {
        d(`answers[${i}].rrname`, a.name);
        d(`answers[${i}].rrtype`, typeName(a.type));
        d(`answers[${i}].ttl`, a.ttl);
        if (a.data.kind === "srv") {
          d(`answers[${i}].srv.priority`, a.data.priority);
          d(`answers[${i}].srv.weight`, a.data.weight);
          d(`answers[${i}].srv.port`, a.data.port);
          d(`answers[${i}].srv.name`, a.data.target);
        } else d(`answers[${i}].rdata`, rdata(a));
        const t = typeName(a.type);
        const n = grouped.get(t) ?? 0;
        grouped.set(t, n + 1);
        d(`grouped.${t}[${n}]`, rdata(a));
      });
    }
    eves.push(e);
  }
  return eves;
}

function colonHex(hex: string, upper: boolean): string {
  const h = hex.length % 2 ? "0" + hex : hex;
  const pairs = h.match(/../g) ?? [];
  return (upper ? pairs.map((p) => p.toUpperCase()) : pairs.map((p) => p.toLowerCase())).join(":");
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

function tlsVersion(v: number): string {
  if (v === 0x0301) return "TLSv1";
  if (v === 0x0300) return "SSLv3";
  if (v >> 8 === 0x7f) return `TLS 1.3 draft-${v & 0xff}`;
  return `TLS 1.${(v & 0xff) - 1}`;
}

/** Suricata's DN text: attributes in certificate order, ", " between them. */
function dn(rdns: CertificateInfo["subjectRdns"]): string {
  return rdns.map((r) => `${r.type}=${r.value}`).join(", ");
}

function tlsRecords(out: CaseOutput): Eve[] {
  return out.tls.map((s) => {
    const e: Eve = new Map<string, unknown>([
      ["event_type", "tls"],
      ["src_ip", s.client],
      ["src_port", s.clientPort],
      ["dest_ip", s.server],
      ["dest_port", s.serverPort],
      ["proto", "TCP"],
    ]);
    if (s.clientHello?.sni) e.set("tls.sni", s.clientHello.sni);
    const v = s.serverHello?.selectedVersion;
    if (v !== undefined) e.set("tls.version", tlsVersion(v));
    const leaf = s.serverChain[0];
    if (leaf) {
      e.set("tls.subject", dn(leaf.subjectRdns));
      e.set("tls.issuerdn", dn(leaf.issuerRdns));
      e.set("tls.serial", colonHex(leaf.serial, true));
      e.set("tls.notbefore", isoSeconds(leaf.notBeforeMs));
      e.set("tls.notafter", isoSeconds(leaf.notAfterMs));
      leaf.sanDns.forEach((n, i) => e.set(`tls.subjectaltname[${i}]`, n));
    }
    return e;
  });
}

// Twin of a flow record seen from the other end: Suricata picks the client by its own heuristics (ports,
// midstream pick-up), we take the sender of the first packet, as the kernel path does.
const SWAPPED = "__swapped";

function swapped(e: Eve): Eve {
  const t = new Map(e);
  const swap = (a: string, b: string): void => {
    t.set(a, e.get(b));
    t.set(b, e.get(a));
  };
  swap("src_ip", "dest_ip");
  swap("src_port", "dest_port");
  swap("flow.pkts_toserver", "flow.pkts_toclient");
  swap("tcp.tcp_flags_ts", "tcp.tcp_flags_tc");
  t.set(SWAPPED, true);
  return t;
}

function flowRecords(out: CaseOutput): Eve[] {
  return out.flows.flatMap(({ rec: r }) => {
    const e: Eve = new Map<string, unknown>([
      ["event_type", "flow"],
      ["src_ip", r.src_addr],
      ["src_port", r.src_port],
      ["dest_ip", r.dst_addr],
      ["dest_port", r.dst_port],
      ["proto", proto(r.protocol)],
      ["flow.pkts_toserver", r.packets_fwd],
      ["flow.pkts_toclient", r.packets_rev],
      // Suricata's age is the difference of the whole-second parts of the last and first timestamps.
      ["flow.age", Math.floor(r.last_seen_us / 1e6) - Math.floor(r.first_seen_us / 1e6)],
    ]);
    if (r.community_id) e.set("community_id", r.community_id);
    if (r.protocol === 6) {
      const all = r.tcp_flags_fwd | r.tcp_flags_rev;
      e.set("tcp.tcp_flags", all.toString(16).padStart(2, "0"));
      e.set("tcp.tcp_flags_ts", r.tcp_flags_fwd.toString(16).padStart(2, "0"));
      e.set("tcp.tcp_flags_tc", r.tcp_flags_rev.toString(16).padStart(2, "0"));
      const names = [["syn", TCP_FLAG.SYN], ["fin", TCP_FLAG.FIN], ["rst", TCP_FLAG.RST], ["psh", TCP_FLAG.PSH], ["ack", TCP_FLAG.ACK], ["urg", TCP_FLAG.URG], ["ecn", TCP_FLAG.ECE], ["cwr", TCP_FLAG.CWR]] as const;
      for (const [n, bit] of names) if (all & bit) e.set(`tcp.${n}`, true);
    }
    return [e, swapped(e)];
  });
}

const ORIENTATION = "Suricata chose the client by its own heuristic; our flow initiator is the sender of the first packet (kernel semantics)";

// The Suricata release whose output the checks describe (requires: min-version / lt-version gate filters).
const SURICATA_MAJOR = 8;

function versionApplies(req: Record<string, unknown> | undefined): boolean {
  if (!req) return true;
  const major = (v: unknown): number => Number(String(v).split(".")[0]);
  if (req["min-version"] !== undefined && major(req["min-version"]) > SURICATA_MAJOR) return false;
  if (req["lt-version"] !== undefined && major(req["lt-version"]) <= SURICATA_MAJOR) return false;
  return true;
}

function valueEq(path: string, a: unknown, b: unknown): boolean {
  // Suricata prints the serial's DER bytes, sign byte included; the number is the same without it.
  if (path === "tls.serial") return String(a).replace(/^(00:)+/, "") === String(b);
  if (/rrname|\.name$|\.sni$/.test(path)) return sameName(a, b);
  return sameValue(a, b);
}

export function compareSuricata(caseName: string, dir: string, files: string[], out: CaseOutput, t: Tally): void {
  for (const file of files) {
    if (!file.endsWith(".test.yaml")) continue;
    t.caseName = caseName;
    t.file = file;
    const test = parseYaml(readFileSync(`${dir}/${file}`, "utf8")) as {
      env?: Record<string, unknown>;
      checks?: { filter?: { count?: number; match?: Record<string, unknown>; requires?: Record<string, unknown> } }[];
    } | null;
    const cfg = dnsConfig(`${dir}/${file.replace(/\.test\.yaml$/, ".suricata.yaml")}`);
    const envVersion = test?.env?.["SURICATA_EVE_DNS_VERSION"];
    if (envVersion !== undefined) cfg.version = Number(envVersion);
    const eves = [...dnsRecords(out, cfg), ...tlsRecords(out), ...flowRecords(out)];
    for (const check of test?.checks ?? []) {
      const f = check.filter;
      if (!f?.match || !versionApplies(f.requires)) continue;
      const pairs = Object.entries(f.match).map(([k, v]) => [k.replace(/\.__len$/, ".__len"), v] as const);
      const usable = pairs.filter(([k]) => comparable(k));
      const eventType = f.match["event_type"];
      // Alerts, anomalies, netflow and stats records have no counterpart in what we emit.
      if (eventType !== undefined && !(typeof eventType === "string" && EVENT_TYPES.has(eventType))) continue;
      const pool = eventType === undefined ? eves : eves.filter((e) => e.get("event_type") === eventType);
      const matching = (e: Eve): boolean => usable.every(([k, v]) => valueEq(k, v, e.get(k)));
      if (usable.length === pairs.length && f.count !== undefined) {
        const label = `count(${pairs.map(([k, v]) => `${k}=${String(v)}`).join(",")})`;
        const n = pool.filter((e) => !e.has(SWAPPED) && matching(e)).length;
        const nSwapped = pool.filter((e) => e.has(SWAPPED) && matching(e)).length;
        if (n !== f.count && nSwapped === f.count) t.knownDifference(label, ORIENTATION);
        else t.field(label, f.count, n);
      }
      if (f.count === 0 || usable.length === 0) continue;
      // Compare the listed values against the record of ours that agrees with most of them.
      let best: Eve | undefined;
      let bestScore = -1;
      for (const e of pool) {
        const score = usable.filter(([k, v]) => valueEq(k, v, e.get(k))).length;
        if (score > bestScore) {
          best = e;
          bestScore = score;
        }
      }
      if (best?.has(SWAPPED)) t.knownDifference("src_ip/dest_ip", ORIENTATION);
      for (const [k, v] of usable) t.field(k, v, best?.get(k), (a, b) => valueEq(k, a, b));
    }
  }
}
