// The labelled query names the trainer learns from: benign domains (with realistic host prefixes), DGA
// domains sampled per family, and DNS-tunnel query names with their parent zone replaced, split into
// train and validation by registered domain; the held-out part is never read here.
import { getDomain } from "tldts";
import { splitOf } from "../../../lib/src/model/dataset-split.js";
import { parseCsv, readCsvRecords, requireColumn } from "../../../lib/src/model/labelled-csv.js";
import { readFileSync } from "node:fs";

export type Kind = "benign" | "dga" | "tunnel";

export interface LabelledName {
  name: string;
  /** 1 = threat (DGA or tunnel). */
  label: 0 | 1;
  kind: Kind;
  family: string;
}

export interface DataPaths {
  benign: string;
  dga: string;
  /** netrack train.csv / validate.csv: no header, `label,qname`. */
  tunnelTrain: string;
  tunnelValidation: string;
}

export function defaultDataPaths(dataDir: string): DataPaths {
  return {
    benign: `${dataDir}/domains/benign.csv`,
    dga: `${dataDir}/domains/dga.csv`,
    tunnelTrain: `${dataDir}/dns-tunnel/netrack/train.csv`,
    tunnelValidation: `${dataDir}/dns-tunnel/netrack/validate.csv`,
  };
}

export interface DatasetOptions {
  /** Share of the non-held-out registered domains used for validation (config model_validation_split). */
  validationSplit: number;
  /** Training names per DGA family (the generated families hold 100,000 each; the observed ones ~200). */
  perFamily: number;
  /** Share of benign names that also appear with a host prefix. */
  hostShare: number;
  /** Cap on benign registered domains per split part (bounded runs; 0 = all). */
  maxBenign: number;
  /**
   * Copies of each tunnel name, each under another benign parent: the SLD region's trigrams then vary
   * while the payload's stay, so the payload decides (one copy left recall 0.93 under unseen parents).
   */
  tunnelParents: number;
  seed: number;
}

export const DEFAULT_DATASET_OPTIONS: DatasetOptions = {
  validationSplit: 0.2,
  perFamily: 15000,
  hostShare: 0.6,
  maxBenign: 0,
  tunnelParents: 3,
  seed: 1,
};

/** mulberry32: a small seeded generator, so a training run is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function shuffle<T>(rnd: () => number, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

// Host labels that real query names carry in front of a registered domain. The benign lists hold
// registered domains only, while the kernel sees host names: without these, "has a subdomain" alone
// would separate benign from tunnel traffic in training and fail on real traffic.
const HOST_LABELS = (
  "www www www www www www mail m api cdn static img images login shop blog news app ns1 ns2 mx smtp " +
  "webmail secure support docs dev test en de fr cloud vpn remote portal admin status assets media video " +
  "autodiscover cpanel ftp web store help my account accounts auth go s3 edge files download update ads " +
  "analytics track metrics push chat forum wiki git jobs careers community events pay checkout search " +
  "maps email imap pop owa sip time ntp gateway proxy intranet sso id connect beta stage staging qa demo " +
  "partner developer data stats live tv music photos calendar drive mobile i s a b c e"
).split(" ");

// Address-derived host names (ISPs' reverse zones, DHCP pools, cloud instances) and the zones they sit in.
const ADDRESS_PREFIXES = "ip host pool c dhcp static dyn cpe customer client adsl dsl cable h node vm".split(" ");
const ADDRESS_ZONES = "rev static dynamic dsl adsl cable pool res bb hsd1 fiber ftth broadband cust dial wifi lte mobile compute internal".split(" ");

// Parent zones of the tunnel tools in the netrack data (its README: names keep the tunnel's parent).
const TUNNEL_ZONES = ["tunnel.tuns.org", "tunnel.example.org", "hidemyself.org"];

function stripDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** The labels left of the tunnel's zone (or of the registered domain for an unknown tool). */
export function tunnelPayload(name: string): string {
  const n = stripDot(name);
  const lower = n.toLowerCase();
  for (const z of TUNNEL_ZONES) if (lower.endsWith("." + z)) return n.slice(0, n.length - z.length - 1);
  const d = getDomain(lower);
  return d !== null && lower.endsWith("." + d) ? n.slice(0, n.length - d.length - 1) : n;
}

/**
 * The payload with every digit drawn anew: digits in a tunnel payload are data or a counter (tuns polls
 * are r<counter>), and one capture's counter range says nothing about the next; with the digits kept, the
 * trigram table learned the training capture's counter values and missed every poll of the test capture.
 */
export function redrawDigits(rnd: () => number, payload: string): string {
  return payload.replace(/[0-9]/g, () => String(Math.floor(rnd() * 10)));
}

class HostNames {
  private readonly slds: string[] = [];
  private readonly subs: string[] = [];

  constructor(
    private readonly rnd: () => number,
    private readonly benign: readonly string[],
  ) {
    for (const d of benign) {
      const n = stripDot(d).toLowerCase();
      const reg = getDomain(n, { allowPrivateDomains: true });
      if (reg === null) continue;
      this.slds.push(reg.split(".")[0]!);
      if (n.length > reg.length) this.subs.push(...n.slice(0, n.length - reg.length - 1).split("."));
    }
  }

  private octets(): number[] {
    return Array.from({ length: 4 }, () => Math.floor(this.rnd() * 256));
  }

  private num(max: number): number {
    return Math.floor(this.rnd() * max);
  }

  /**
   * A host name under `domain`, or a reverse-lookup name (PTR queries are common benign traffic). Beside
   * service names and user sites, real resolvers see machine-made infrastructure names full of digits
   * and hyphens: address-derived ISP names, numbered hosts, hosting aliases that embed a customer's
   * domain. Without them the n-gram table learns "digits and hyphens in the sub part" as tunnel payload.
   */
  hostFor(domain: string): string {
    const r = this.rnd();
    const d = stripDot(domain);
    const host = (): string => pick(this.rnd, HOST_LABELS);
    if (r < 0.4) return `${host()}.${d}`;
    if (r < 0.48) return `${host()}.${host()}.${d}`;
    if (r < 0.53) return `${host()}${1 + this.num(20)}.${d}`;
    if (r < 0.66) return `${pick(this.rnd, this.slds)}.${d}`;
    if (r < 0.72) return `${this.subs.length === 0 ? host() : pick(this.rnd, this.subs)}.${d}`;
    if (r < 0.76) return `${this.octets().join(".")}.in-addr.arpa`;
    if (r < 0.78) return `${Array.from({ length: 32 }, () => this.num(16).toString(16)).join(".")}.ip6.arpa`;
    if (r < 0.88) {
      const o = this.octets();
      const joined = this.rnd() < 0.7 ? o.join("-") : o.join(".");
      const prefix = this.rnd() < 0.5 ? `${pick(this.rnd, ADDRESS_PREFIXES)}${this.rnd() < 0.8 ? "-" : ""}` : "";
      const zone = this.rnd() < 0.6 ? `${pick(this.rnd, ADDRESS_ZONES)}.` : "";
      return `${prefix}${joined}.${zone}${d}`;
    }
    if (r < 0.95) {
      const sep = this.rnd() < 0.5 ? "-" : "";
      const a = this.rnd() < 0.5 ? host() : pick(this.rnd, ADDRESS_ZONES);
      if (this.rnd() < 0.5) return `${a}${this.num(100)}${sep}${this.num(1000)}.${d}`;
      const alias = `${host()}-${host()}-${host()}-${String.fromCharCode(97 + this.num(26))}${this.num(2000)}`;
      return `${alias}.${host()}${this.rnd() < 0.5 ? "-" + host() : ""}.${d}`;
    }
    const customer = stripDot(pick(this.rnd, this.benign));
    return `${this.rnd() < 0.6 ? "www." : ""}${customer}.${host()}.${d}`;
  }

  /** A registered domain to stand in for a tunnel's parent zone, sometimes with a delegation label. */
  zone(): string {
    const d = stripDot(pick(this.rnd, this.benign));
    return this.rnd() < 0.5 ? `${pick(this.rnd, HOST_LABELS)}.${d}` : d;
  }
}

function netrackRows(path: string): { label: 0 | 1; name: string }[] {
  return parseCsv(readFileSync(path, "utf8"))
    .filter((r) => r.length >= 2 && (r[0] === "0" || r[0] === "1"))
    .map((r) => ({ label: r[0] === "1" ? 1 : 0, name: r.slice(1).join(",") }));
}

export interface TrainingNames {
  train: LabelledName[];
  validation: LabelledName[];
}

/** Loads, samples, augments and splits the labelled names. Deterministic for a given seed. */
export function loadTrainingNames(paths: DataPaths, opts: DatasetOptions = DEFAULT_DATASET_OPTIONS): TrainingNames {
  const rnd = seededRandom(opts.seed);
  const out: TrainingNames = { train: [], validation: [] };
  const part = (name: string): "train" | "validation" | null => {
    const s = splitOf(name, opts.validationSplit);
    return s === "heldout" ? null : s;
  };

  const benignByPart: Record<"train" | "validation", string[]> = { train: [], validation: [] };
  for (const d of requireColumn(readCsvRecords(paths.benign), paths.benign, "domain")) {
    const p = part(d);
    if (p !== null && d.length > 0) benignByPart[p].push(d);
  }
  for (const p of ["train", "validation"] as const) {
    let names = benignByPart[p];
    if (opts.maxBenign > 0 && names.length > opts.maxBenign) names = shuffle(rnd, names.slice()).slice(0, opts.maxBenign);
    const hosts = new HostNames(rnd, names);
    for (const d of names) {
      out[p].push({ name: d, label: 0, kind: "benign", family: "benign" });
      if (rnd() < opts.hostShare) out[p].push({ name: hosts.hostFor(d), label: 0, kind: "benign", family: "benign-host" });
    }
    const tunnels = netrackRows(p === "train" ? paths.tunnelTrain : paths.tunnelValidation);
    for (const t of tunnels) {
      // Plain lookups are benign registered domains too: the held-out ones stay out of training.
      if (t.label === 0) {
        if (part(t.name) !== null) out[p].push({ name: t.name, label: 0, kind: "benign", family: "netrack-plain" });
      }
      else {
        const payload = tunnelPayload(t.name);
        for (let c = 0; c < opts.tunnelParents; c++) {
          out[p].push({ name: `${redrawDigits(rnd, payload)}.${hosts.zone()}`, label: 1, kind: "tunnel", family: "netrack-tunnel" });
        }
      }
    }
  }

  // Group by family first and compute splits only while sampling: the generated families hold
  // 100,000 names each, and a split costs a public-suffix lookup.
  const families = new Map<string, string[]>();
  const dga = readCsvRecords(paths.dga);
  const dgaNames = requireColumn(dga, paths.dga, "domain");
  dga.forEach((r, i) => {
    const fam = r.family ?? "unknown";
    const list = families.get(fam) ?? [];
    families.set(fam, list);
    list.push(dgaNames[i]!);
  });
  const caps = { train: opts.perFamily, validation: Math.round((opts.perFamily * opts.validationSplit) / (1 - opts.validationSplit)) };
  for (const [fam, list] of families) {
    const taken = { train: 0, validation: 0 };
    for (const d of shuffle(rnd, list)) {
      if (taken.train >= caps.train && taken.validation >= caps.validation) break;
      const p = part(d);
      if (p === null || taken[p] >= caps[p]) continue;
      taken[p]++;
      out[p].push({ name: d, label: 1, kind: "dga", family: fam });
    }
  }
  return out;
}
