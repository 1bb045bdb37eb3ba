import { test } from "node:test";
import assert from "node:assert/strict";
import type { DnsEvent, FlowRecord, WindowAggregate } from "../../../lib/src/avro.js";
import { PartitionAggregation, OTHER_KEY, type AggregationSettings, type WindowEmission } from "../src/partition-aggregation.js";
import { createKeyTables } from "../src/bounds.js";
import { paneSizeMs, windowSpec, type DimensionName } from "../src/windows.js";
import { decodePane, encodePane } from "../src/state-codec.js";
import type { WindowState } from "../src/window-state.js";
import { dnsEvent, flowRecord } from "./records.js";

const ALL: DimensionName[] = ["global", "node", "registered_domain", "qname", "source", "destination", "flow"];

function setup(o: { windows: ReturnType<typeof windowSpec>[]; lateness?: number; maxDomains?: number; maxFlows?: number; topK?: number; stream?: "dns" | "flow"; logMinKeys?: number }) {
  const settings: AggregationSettings = {
    windows: o.windows,
    paneMs: paneSizeMs(o.windows),
    allowedLatenessMs: o.lateness ?? 0,
    topK: o.topK ?? 5,
    linkCapacityBps: 1e9,
    keysPerEmission: () => Infinity,
    outOfOrdernessMs: 0,
  };
  const tables = createKeyTables({ maxDomainsTracked: o.maxDomains ?? 1000, concurrentFlowsLimit: o.maxFlows ?? 1000, maxNodes: 16 });
  const agg = new PartitionAggregation("test/0", o.stream ?? "dns", settings, tables, o.logMinKeys);
  const out: WindowEmission[] = [];
  const advance = (wm: number): WindowEmission[] => {
    const before = out.length;
    agg.advance(wm, (e) => out.push(e));
    return out.slice(before);
  };
  return { agg, out, advance, tables };
}

function row(es: readonly WindowEmission[], spec: string, start: number, dim: string, key: string): WindowAggregate | undefined {
  const rows = es.filter((e) => e.spec.name === spec && e.start === start).flatMap((e) => e.rows.filter((r) => r.dimension === dim && r.key === key));
  return rows.at(-1);
}

test("a tumbling window holds [start, end): the record at end - 1 is in, the one at end is in the next", () => {
  const { agg, advance } = setup({ windows: [windowSpec(1000, 1000, ALL)] });
  for (const t of [0, 999, 1000, 1999.999, 2000]) agg.ingestDns(dnsEvent({ t }));
  const es = advance(3000);
  assert.equal(row(es, "1s", 0, "global", "")?.count, 2);
  assert.equal(row(es, "1s", 1000, "global", "")?.count, 2);
  assert.equal(row(es, "1s", 2000, "global", "")?.count, 1);
  assert.equal(row(es, "1s", 0, "global", "")?.window_end_ms, 1000);
});

test("a window is emitted when the watermark reaches its end, not a millisecond before", () => {
  const { agg, advance } = setup({ windows: [windowSpec(1000, 1000, ALL)] });
  agg.ingestDns(dnsEvent({ t: 10 }));
  assert.equal(advance(999).length, 0);
  const es = advance(1000);
  assert.equal(es.length, 1);
  assert.equal(es[0]?.start, 0);
  assert.equal(es[0]?.revision, 0);
  assert.equal(advance(1000).length, 0, "nothing is emitted twice without a change");
});

test("a hopping window 2s/1s counts a record in both windows that contain it, and only those", () => {
  const { agg, advance } = setup({ windows: [windowSpec(2000, 1000, ["global"])] });
  agg.ingestDns(dnsEvent({ t: 1500 }));
  agg.ingestDns(dnsEvent({ t: 2000 }));
  const es = advance(10_000);
  assert.equal(row(es, "2s/1s", 0, "global", "")?.count, 1);
  assert.equal(row(es, "2s/1s", 1000, "global", "")?.count, 2);
  assert.equal(row(es, "2s/1s", 2000, "global", "")?.count, 1);
  assert.equal(row(es, "2s/1s", -1000, "global", ""), undefined, "a window that ended before 1500 does not contain it");
  assert.equal(row(es, "2s/1s", 1000, "global", "")?.kind, "hopping");
});

test("a late record within the allowed lateness revises its window; a later one is counted, not added", () => {
  const { agg, advance } = setup({ windows: [windowSpec(1000, 1000, ALL)], lateness: 2000 });
  agg.ingestDns(dnsEvent({ t: 100, registered_domain: "a.com" }));
  let es = advance(1000);
  assert.equal(row(es, "1s", 0, "global", "")?.count, 1);
  assert.equal(row(es, "1s", 0, "global", "")?.final, false);
  // Late but within lateness: watermark 2999 < end 1000 + 2000.
  advance(2999);
  agg.ingestDns(dnsEvent({ t: 500, registered_domain: "b.com" }));
  es = advance(2999);
  const revised = row(es, "1s", 0, "global", "");
  assert.equal(revised?.count, 2);
  assert.equal(revised?.revision, 1);
  // A revision carries only the keys that changed.
  assert.equal(row(es, "1s", 0, "registered_domain", "b.com")?.count, 1);
  assert.equal(row(es, "1s", 0, "registered_domain", "a.com"), undefined);
  // At end + lateness the window is final and gone; a record for it now is dropped and counted.
  es = advance(3000);
  assert.equal(row(es, "1s", 0, "global", "")?.final, true);
  agg.ingestDns(dnsEvent({ t: 700 }));
  assert.equal(agg.lateTotal, 1);
  agg.ingestDns(dnsEvent({ t: 3500 }));
  es = advance(6000);
  assert.equal(row(es, "1s", 3000, "global", "")?.count, 1);
  assert.equal(row(es, "1s", 3000, "global", "")?.late_count, 1);
  assert.equal(es.filter((e) => e.start === 0).length, 0, "the dropped record did not resurrect its window");
});

test("the revision that only marks a window final carries the global row's top-k list as last sent", () => {
  // Readers keep a row's highest revision (the Redis sink's totals), so an empty list there would erase it.
  const { agg, advance } = setup({ windows: [windowSpec(1000, 1000, ALL)], lateness: 2000 });
  for (const d of ["a.com", "b.com", "b.com"]) agg.ingestDns(dnsEvent({ t: 100, registered_domain: d }));
  const first = row(advance(1000), "1s", 0, "global", "");
  assert.deepEqual(first?.top_k, [{ key: "b.com", count: 2 }, { key: "a.com", count: 1 }]);
  const finalOnly = row(advance(3000), "1s", 0, "global", "");
  assert.equal(finalOnly?.final, true);
  assert.equal(finalOnly?.revision, 1);
  assert.equal(finalOnly?.top_k_of, "registered_domain");
  assert.deepEqual(finalOnly?.top_k, first?.top_k);
});

test("with no lateness a record behind the watermark is dropped at once", () => {
  const { agg, advance } = setup({ windows: [windowSpec(1000, 1000, ["global"])] });
  agg.ingestDns(dnsEvent({ t: 1500 }));
  advance(1200);
  agg.ingestDns(dnsEvent({ t: 1100 })); // its pane [1000, 2000) is still open: not late
  agg.ingestDns(dnsEvent({ t: 999 })); // window [0, 1000) ended at 1000 <= 1200
  assert.equal(agg.lateTotal, 1);
  const es = advance(2000);
  assert.equal(row(es, "1s", 1000, "global", "")?.count, 2);
});

test("a late record updates a longer window still open while its short window is gone", () => {
  const { agg, advance } = setup({ windows: [windowSpec(1000, 1000, ["global"]), windowSpec(10_000, 10_000, ["global"])] });
  agg.ingestDns(dnsEvent({ t: 100 }));
  advance(5000);
  agg.ingestDns(dnsEvent({ t: 200 }));
  assert.equal(agg.lateSinceEmit.get("1s"), 1);
  assert.equal(agg.lateTotal, 0, "not dropped: the 10s window took it");
  const es = advance(10_000);
  assert.equal(row(es, "10s", 0, "global", "")?.count, 2);
});

test("windows built from panes equal the exact statistics of their records (counts, moments, keys)", () => {
  const { agg, advance, out } = setup({ windows: [windowSpec(1000, 1000, ALL), windowSpec(60_000, 60_000, ALL), windowSpec(60_000, 10_000, ["global", "registered_domain"])] });
  const rts: number[] = [];
  const perDomain = new Map<string, number>();
  let seed = 1;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let i = 0; i < 5000; i++) {
    // In order up to a jitter of 2 s, with a watermark 5 s behind: out of order, never late.
    const t = 60_000 + i * 11 + (rnd() - 0.5) * 4000 + 2000;
    const d = `d${Math.floor(rnd() * 50)}.com`;
    const rt = Math.round(1000 + rnd() * 50_000);
    rts.push(rt);
    perDomain.set(d, (perDomain.get(d) ?? 0) + 1);
    agg.ingestDns(dnsEvent({ t, registered_domain: d, qname: `x.${d}`, is_response: true, response_time_us: rt, rcode: i % 10 === 0 ? 3 : 0 }));
    if (i % 100 === 99) advance(60_000 + i * 11 - 5000);
  }
  advance(200_000);
  const es = out;
  const g = row(es, "1m", 60_000, "global", "");
  assert.equal(g?.count, 5000);
  const mean = rts.reduce((a, b) => a + b, 0) / rts.length;
  const varPop = rts.reduce((a, b) => a + (b - mean) ** 2, 0) / rts.length;
  const rt = g?.measures.find((m) => m.name === "response_time_us");
  assert.ok(rt !== undefined && Math.abs(rt.mean - mean) < 1e-6 && Math.abs(rt.variance - varPop) / varPop < 1e-9);
  assert.equal(rt.min, Math.min(...rts));
  assert.equal(rt.max, Math.max(...rts));
  // Quantiles within the sketch's 1% relative accuracy of the exact order statistic.
  const sorted = [...rts].sort((a, b) => a - b);
  for (const [q, v] of [[0.5, rt.p50], [0.9, rt.p90], [0.99, rt.p99]] as const) {
    const exact = sorted[Math.floor(q * (sorted.length - 1))] ?? 0;
    assert.ok(v !== null && Math.abs(v - exact) / exact <= 0.0101, `p${q * 100}: ${v} vs ${exact}`);
  }
  assert.equal(g?.measures.find((m) => m.name === "nxdomain")?.mean, 500 / 5000);
  for (const [d, c] of perDomain) assert.equal(row(es, "1m", 60_000, "registered_domain", d)?.count, c, d);
  const sum1s = es.filter((e) => e.spec.name === "1s").flatMap((e) => e.rows).filter((r) => r.dimension === "global").reduce((a, r) => a + r.count, 0);
  assert.equal(sum1s, 5000);
  // Hopping 1m/10s: 6 windows contain each record, so the windows' counts add to 6 x 5000 over all starts.
  const hop = es.filter((e) => e.spec.name === "1m/10s").flatMap((e) => e.rows).filter((r) => r.dimension === "global");
  assert.equal(hop.reduce((a, r) => a + r.count, 0), 30_000);
  assert.equal(row(es, "1m/10s", 60_000, "global", "")?.count, 5000);
  const distinct = g?.distinct.find((x) => x.name === "registered_domain")?.estimate ?? 0;
  assert.ok(Math.abs(distinct - 50) <= 2, `distinct ${distinct}`);
  const top = g?.top_k ?? [];
  const exactTop = [...perDomain].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
  assert.deepEqual(top.map((e) => e.count), exactTop.map((e) => e[1]));
  assert.equal(g?.top_k_of, "registered_domain");
});

test("keys beyond the bound fold into (other) with exact totals, and heavy overflow keys still reach the top-k", () => {
  const { agg, advance, tables } = setup({ windows: [windowSpec(1000, 1000, ["global", "registered_domain"])], maxDomains: 3 });
  for (let i = 0; i < 3; i++) agg.ingestDns(dnsEvent({ t: 10, registered_domain: `small${i}.com` }));
  for (let i = 0; i < 50; i++) agg.ingestDns(dnsEvent({ t: 20, registered_domain: "heavy.com" }));
  for (let i = 0; i < 4; i++) agg.ingestDns(dnsEvent({ t: 30, registered_domain: `tail${i}.com` }));
  const es = advance(1000);
  assert.equal(row(es, "1s", 0, "registered_domain", OTHER_KEY)?.count, 54);
  assert.equal(row(es, "1s", 0, "global", "")?.count, 57);
  const top = es[0]?.topK.find((l) => l.dimension === "registered_domain")?.entries ?? [];
  assert.deepEqual(top[0], { key: "heavy.com", count: 50 });
  assert.equal(tables[2]?.size, 0, "keys are freed once their windows are final");
});

test("keys stay interned while any window holds them and are freed after the last one", () => {
  const { agg, advance, tables } = setup({ windows: [windowSpec(1000, 1000, ["registered_domain"]), windowSpec(10_000, 10_000, ["registered_domain"])], lateness: 1000 });
  agg.ingestDns(dnsEvent({ t: 10, registered_domain: "keep.com" }));
  advance(2000);
  assert.notEqual(tables[2]?.find("keep.com"), -1);
  advance(10_999);
  assert.notEqual(tables[2]?.find("keep.com"), -1);
  advance(11_000);
  assert.equal(tables[2]?.find("keep.com"), -1);
});

test("a dropped record interns no key: none stays unreferenced, and no cached id outlives its key", () => {
  const { agg, advance, tables } = setup({ windows: [windowSpec(1000, 1000, ["registered_domain"])] });
  const other = new PartitionAggregation("test/1", "dns", agg.settings, tables);
  other.ingestDns(dnsEvent({ t: 100, registered_domain: "k.com" }));
  agg.ingestDns(dnsEvent({ t: 3000, registered_domain: "a.com" }));
  advance(3000);
  agg.ingestDns(dnsEvent({ t: 500, registered_domain: "new.com" })); // dropped
  assert.equal(tables[2]?.find("new.com"), -1);
  agg.ingestDns(dnsEvent({ t: 600, registered_domain: "k.com" })); // dropped
  // The other task's window of k.com goes, freeing its id, which the next new key takes.
  other.advance(5000, () => undefined);
  assert.equal(tables[2]?.find("k.com"), -1);
  other.ingestDns(dnsEvent({ t: 5100, registered_domain: "z.com" }));
  agg.ingestDns(dnsEvent({ t: 3100, registered_domain: "k.com" }));
  const es = advance(4000);
  assert.equal(row(es, "1s", 3000, "registered_domain", "k.com")?.count, 1);
  assert.equal(row(es, "1s", 3000, "registered_domain", "z.com"), undefined);
});

test("flow windows carry the seed's FlowStatistics, exact against the packets", () => {
  const { agg, advance } = setup({ stream: "flow", windows: [windowSpec(1000, 1000, ALL)] });
  const flows = [
    { sizes: [60, 1500, 1500, 40], iats: [10, 2000, 30], dur: 5 },
    { sizes: [576, 576], iats: [100], dur: 50 },
    { sizes: [1200], iats: [], dur: 0.5 },
  ];
  flows.forEach((f, i) => agg.ingestFlow(flowRecord({ t: 100 + i, sizes: f.sizes, iatsUs: f.iats, durationMs: f.dur, src_port: 1000 + i, rst_count: i === 2 ? 1 : 0 })));
  const es = advance(1000);
  const g = row(es, "1s", 0, "global", "");
  const fs = g?.flow_stats;
  const all = flows.flatMap((f) => f.sizes);
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  const varPop = all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length;
  assert.ok(fs != null);
  assert.ok(Math.abs(fs.mean_packet_size - mean) < 1e-9);
  assert.ok(Math.abs(fs.variance_packet_size - varPop) / varPop < 1e-9);
  assert.equal(fs.packet_rate_per_second, all.length);
  const bits = all.reduce((a, b) => a + b, 0) * 8;
  assert.ok(Math.abs(fs.bandwidth_utilization - bits / 1e9) < 1e-15);
  assert.deepEqual(fs.flow_duration_histogram.counts, [1, 1, 1, 0, 0, 0, 0, 0, 0]);
  const iats = flows.flatMap((f) => f.iats);
  const im = iats.reduce((a, b) => a + b, 0) / iats.length;
  assert.equal(fs.inter_arrival_time_distribution.count, iats.length);
  assert.ok(Math.abs(fs.inter_arrival_time_distribution.mean - im) < 1e-9);
  assert.ok(Math.abs(fs.inter_arrival_time_distribution.variance - iats.reduce((a, b) => a + (b - im) ** 2, 0) / iats.length) < 1e-6);
  assert.equal(fs.inter_arrival_time_distribution.min, 10);
  assert.equal(fs.inter_arrival_time_distribution.max, 2000);
  assert.equal(g?.measures.find((m) => m.name === "rst")?.mean, 1 / 3);
  assert.equal(g?.distinct.find((d) => d.name === "flow")?.estimate, 3);
  assert.equal(es[0]?.rows.filter((r) => r.dimension === "flow").length, 3);
  assert.equal(es[0]?.rows.filter((r) => r.dimension === "registered_domain").length, 0, "flows have no domain dimension");
  assert.equal(g?.top_k_of, "source_bytes");
  assert.equal(g?.top_k[0]?.count, all.reduce((a, b) => a + b, 0));
});

test("a query name's linked domain and a flow key's linked addresses are used only when they are this record's", () => {
  const { agg, advance } = setup({ windows: [windowSpec(1000, 1000, ALL)] });
  // One name under two registered domains (two public-suffix lists): each record counts under its own.
  agg.ingestDns(dnsEvent({ t: 10, qname: "a.b.co.uk", registered_domain: "b.co.uk" }));
  agg.ingestDns(dnsEvent({ t: 11, qname: "x.org", registered_domain: "x.org" }));
  agg.ingestDns(dnsEvent({ t: 12, qname: "a.b.co.uk", registered_domain: "co.uk" }));
  agg.ingestDns(dnsEvent({ t: 13, qname: "x.org", registered_domain: "x.org" }));
  agg.ingestDns(dnsEvent({ t: 14, qname: "a.b.co.uk", registered_domain: "b.co.uk" }));
  agg.ingestDns(dnsEvent({ t: 15, qname: "x.org", registered_domain: "elsewhere.net" }));
  const es = advance(1000);
  assert.equal(row(es, "1s", 0, "registered_domain", "b.co.uk")?.count, 2);
  assert.equal(row(es, "1s", 0, "registered_domain", "co.uk")?.count, 1);
  assert.equal(row(es, "1s", 0, "registered_domain", "x.org")?.count, 2);
  assert.equal(row(es, "1s", 0, "registered_domain", "elsewhere.net")?.count, 1);
  assert.equal(row(es, "1s", 0, "qname", "a.b.co.uk")?.count, 3);

  const f = setup({ windows: [windowSpec(1000, 1000, ALL)], stream: "flow" });
  // A Community ID is the same in both directions: the reversed record must not take the first's addresses.
  const flow = (t: number, src: string, dst: string): void => f.agg.ingestFlow(flowRecord({ t, sizes: [100], src_addr: src, dst_addr: dst, community_id: "1:same" }));
  flow(10, "198.18.0.1", "198.18.0.2");
  flow(11, "198.18.9.9", "198.18.9.8");
  flow(12, "198.18.0.2", "198.18.0.1");
  flow(13, "198.18.9.9", "198.18.9.8");
  flow(14, "198.18.0.1", "198.18.0.2");
  const fs = f.advance(1000);
  assert.equal(row(fs, "1s", 0, "source", "198.18.0.1")?.count, 2);
  assert.equal(row(fs, "1s", 0, "source", "198.18.0.2")?.count, 1);
  assert.equal(row(fs, "1s", 0, "destination", "198.18.0.1")?.count, 1);
  assert.equal(row(fs, "1s", 0, "destination", "198.18.0.2")?.count, 2);
  assert.equal(row(fs, "1s", 0, "source", "198.18.9.9")?.count, 2);
  assert.equal(row(fs, "1s", 0, "flow", "1:same")?.count, 5);
});

test("links keep no key alive past its windows, also when the finer dimension is not tracked", () => {
  for (const dims of [ALL, ["registered_domain", "source"] as DimensionName[]]) {
    const { agg, advance, tables } = setup({ windows: [windowSpec(1000, 1000, dims), windowSpec(10_000, 10_000, ["registered_domain"])] });
    for (let i = 0; i < 50; i++) agg.ingestDns(dnsEvent({ t: 10 + i, qname: `w${i % 7}.d${i % 5}.com`, registered_domain: `d${i % 5}.com` }));
    advance(2000);
    assert.equal(tables[2]?.size, 5, "the 10 s window still holds the domains");
    assert.equal(tables[3]?.size, 0, "the names went with the 1 s window");
    advance(10_000);
    for (const t of tables) assert.equal(t?.size ?? 0, 0);
  }
  const f = setup({ windows: [windowSpec(1000, 1000, ALL)], stream: "flow" });
  for (let i = 0; i < 50; i++) f.agg.ingestFlow(flowRecord({ t: 10 + i, sizes: [100], src_addr: `10.0.0.${i % 9}`, community_id: `1:${i % 13}` }));
  f.advance(1000);
  for (const t of f.tables) assert.equal(t?.size ?? 0, 0);
});

/** A random stream over few keys: out of order by up to 1.5 s, some records late, some too late, some keys overflowing. */
function mixedStream(stream: "dns" | "flow", n: number): { t: number; dns?: DnsEvent; flow?: FlowRecord }[] {
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const out: { t: number; dns?: DnsEvent; flow?: FlowRecord }[] = [];
  for (let i = 0; i < n; i++) {
    const late = rnd() < 0.03 ? 1500 + rnd() * 4000 : 0;
    const t = 10_000 + i * 3 + (rnd() - 0.5) * 3000 - late;
    const k = Math.floor(rnd() * rnd() * 90);
    const node = `node-${i % 3}`;
    if (stream === "dns") {
      const d = `d${k}.com`;
      const rt = rnd() < 0.3 ? null : Math.round(100 + rnd() * 9000);
      out.push({ t, dns: dnsEvent({ t, node, registered_domain: d, qname: `w${i % 4}.${d}`, src_addr: `10.0.0.${k % 70}`, dst_addr: `10.9.0.${i % 5}`, is_response: rt !== null, response_time_us: rt, rcode: i % 13 === 0 ? 3 : 0 }) });
    } else {
      const sizes = Array.from({ length: 1 + (k % 4) }, (_, j) => 60 + ((k * 37 + j * 11 + i) % 1400));
      out.push({ t, flow: flowRecord({ t, node, sizes, src_addr: `10.0.0.${k % 70}`, dst_addr: `10.9.${k % 3}.${k % 50}`, src_port: 1000 + (k % 40), community_id: `1:${k % 60}`, rst_count: i % 11 === 0 ? 1 : 0 }) });
    }
  }
  return out;
}

/** Every key a stream can carry, with its id and reference count, per key table. */
function keyState(tables: ReturnType<typeof createKeyTables>): string[] {
  const keys = [...Array(90).keys()].flatMap((k) => [`d${k}.com`, ...[0, 1, 2, 3].map((w) => `w${w}.d${k}.com`), `10.0.0.${k}`, `10.9.0.${k % 5}`, `10.9.${k % 3}.${k % 50}`, `1:${k}`]);
  return tables.flatMap((t, d) => (t === null ? [] : keys.map((k) => `${d}:${k}:${t.find(k)}:${t.find(k) >= 0 ? t.refCount(t.find(k)) : 0}`)));
}

test("an open pane's record log builds exactly the tables in-place updates build: out of order, late, overflowing keys", () => {
  for (const stream of ["dns", "flow"] as const) {
    const windows = [windowSpec(1000, 1000, ALL), windowSpec(10_000, 10_000, ALL), windowSpec(4000, 2000, ["global", "node", "registered_domain", "source"])];
    // Bounds below the key counts, so logs hold the overflow key and keys are freed and reused mid-stream.
    const logged = setup({ stream, windows, lateness: 2000, maxDomains: 60, maxFlows: 80, logMinKeys: 0 });
    const inPlace = setup({ stream, windows, lateness: 2000, maxDomains: 60, maxFlows: 80, logMinKeys: Infinity });
    const records = mixedStream(stream, 6000);
    records.forEach((r, i) => {
      for (const s of [logged, inPlace]) {
        if (r.dns !== undefined) s.agg.ingestDns(r.dns);
        if (r.flow !== undefined) s.agg.ingestFlow(r.flow);
      }
      if (i % 150 === 149) {
        const wm = 10_000 + i * 3 - 1000;
        assert.deepEqual(logged.advance(wm), inPlace.advance(wm), `${stream}: emissions at ${wm}`);
        assert.deepEqual(keyState(logged.tables), keyState(inPlace.tables), `${stream}: interned keys and references at ${wm}`);
      }
    });
    assert.ok([...logged.agg.panes.values()].some((p) => p.logging), "open panes log");
    assert.ok(logged.out.flatMap((e) => e.rows).some((r) => r.key === OTHER_KEY && r.dimension !== "node"), "keys overflowed");
    assert.ok(logged.agg.lateTotal > 0 && logged.out.some((e) => e.revision > 0), "records came late, within and beyond the lateness");
    assert.deepEqual(logged.advance(100_000), inPlace.advance(100_000));
    for (const t of logged.tables) assert.equal(t?.size ?? 0, 0, "no key outlives its windows");
  }
});

test("a key whose other windows go while an open pane's log holds it keeps its id until that pane is merged", () => {
  const { agg, advance, tables } = setup({ windows: [windowSpec(1000, 1000, ["registered_domain"])], logMinKeys: 0 });
  agg.ingestDns(dnsEvent({ t: 500, registered_domain: "k.com" }));
  agg.ingestDns(dnsEvent({ t: 1500, registered_domain: "k.com" }));
  const id = tables[2]?.find("k.com");
  // The 1 s window [0, 1000) is final at once (no lateness): it releases k.com, which the open pane holds.
  advance(1000);
  assert.equal(tables[2]?.find("k.com"), id);
  agg.ingestDns(dnsEvent({ t: 1600, registered_domain: "z.com" }));
  assert.notEqual(tables[2]?.find("z.com"), id, "a new key does not take the id of a key in an open pane");
  const es = advance(2000);
  assert.equal(row(es, "1s", 1000, "registered_domain", "k.com")?.count, 1);
  assert.equal(row(es, "1s", 1000, "registered_domain", "z.com")?.count, 1);
  assert.equal(tables[2]?.size, 0);
});

test("a restore from a snapshot taken while panes are open and logging ends as an uninterrupted run", () => {
  for (const stream of ["dns", "flow"] as const) {
    const windows = [windowSpec(1000, 1000, ALL), windowSpec(10_000, 10_000, ALL)];
    const records = mixedStream(stream, 4000);
    const ingest = (a: PartitionAggregation, r: (typeof records)[number]): void => (r.dns !== undefined ? a.ingestDns(r.dns) : a.ingestFlow(r.flow as FlowRecord));
    const reference = setup({ stream, windows, lateness: 2000, logMinKeys: Infinity });
    const batch = 150;
    for (let i = 0; i < records.length; i++) {
      ingest(reference.agg, records[i] as (typeof records)[number]);
      if (i % batch === batch - 1) reference.advance(reference.agg.maxEventTime);
    }
    reference.advance(100_000);
    // As a task does: the watermark follows the highest event time (no out-of-orderness here), so the
    // records a replay skips are those whose pane had closed. The first run keeps what a changelog would: the panes shown to persist, the emitted revisions, progress.
    const first = setup({ stream, windows, lateness: 2000, logMinKeys: 0 });
    const persisted: Buffer[][] = [];
    const crashAfter = 14 * batch;
    let snapshot = { watermark: 0, maxEventTime: 0, lateTotal: 0, revisions: new Map<string, number>(), late: new Map<string, number>(), oldestSeq: 0 };
    for (let i = 0; i < crashAfter; i++) {
      first.agg.batchSeq = Math.floor(i / batch);
      ingest(first.agg, records[i] as (typeof records)[number]);
      if (i % batch === batch - 1) {
        first.agg.advance(first.agg.maxEventTime, (e) => first.out.push(e), (p: WindowState) => persisted.push(encodePane(p, first.tables)));
        snapshot = { watermark: first.agg.watermark, maxEventTime: first.agg.maxEventTime, lateTotal: first.agg.lateTotal, revisions: first.agg.revisions(), late: new Map(first.agg.lateSinceEmit), oldestSeq: first.agg.oldestOpenSeq() };
      }
    }
    assert.ok([...first.agg.panes.values()].some((p) => p.logging), "the crash leaves logging panes open");
    const second = setup({ stream, windows, lateness: 2000, logMinKeys: 0 });
    second.agg.restore(snapshot.watermark, persisted.flat().map((b) => decodePane(b, stream, second.tables)), snapshot.revisions);
    second.agg.maxEventTime = snapshot.maxEventTime;
    second.agg.lateTotal = snapshot.lateTotal;
    for (const [k, v] of snapshot.late) second.agg.lateSinceEmit.set(k, v);
    // Re-read from the oldest open pane's batch; records whose pane had closed are already in the changelog.
    for (let i = snapshot.oldestSeq * batch; i < records.length; i++) {
      const r = records[i] as (typeof records)[number];
      if (i < crashAfter && second.agg.paneEnd(r.t) <= snapshot.watermark) continue;
      ingest(second.agg, r);
      if (i % batch === batch - 1) second.advance(second.agg.maxEventTime);
    }
    second.advance(100_000);
    const view = (es: readonly WindowEmission[]): Map<string, unknown> => {
      const m = new Map<string, unknown>();
      for (const e of es) for (const r of e.rows) m.set(`${e.spec.name}|${e.start}|${r.dimension}|${r.key}`, { count: r.count, measures: r.measures.map((x) => ({ ...x, mean: Number(x.mean.toPrecision(12)), variance: Number(x.variance.toPrecision(9)) })), distinct: r.distinct, flow: r.flow_stats });
      return m;
    };
    assert.deepEqual(view([...first.out, ...second.out]), view(reference.out), stream);
    for (const t of second.tables) assert.equal(t?.size ?? 0, 0);
  }
});
