// Every packet of every capture in ../shared/data/pcap and ../shared/data/peer through the XDP program:
// no verifier surprise, no crash, every frame passed; and what the kernel extracts equals what tshark, an
// independent dissector, extracts from the same capture: the question name and 5-tuple of every DNS
// message on port 53, and the flow table (keys and packet counts of every TCP/UDP conversation of two or
// more packets; one-packet flows stay in the admission filter by design, DNS over UDP is reported as
// events, not flows).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EVENT_KIND, type DnsEvent, type Flow } from "../../services/collector/src/kernel-layout.js";
import { captureFiles, ethernetFrames, tsharkFields, DATA_DIR } from "./captures.js";
import { dottedName } from "./fixture-runner.js";
import { StoqKernel, XDP_PASS } from "./kernel.js";

let k: StoqKernel;

before(() => {
  // The SYN-flood capture alone holds ~9,400 flows of two packets or more.
  k = StoqKernel.open({ maxEntries: { stoq_flows4: 65536, stoq_flows6: 65536 } });
});

after(async () => {
  await k.close();
});

/** One frame as tshark dissects it (first occurrences: the outer header of an encapsulation). */
interface TsharkFrame {
  frame: number;
  /** The first question name; "" for the root, null when tshark found none. */
  qname: string | null;
  src: string;
  dst: string;
  proto: 6 | 17;
  sport: number;
  dport: number;
  /** More than one IP header: a tunnel, whose inner conversation the kernel does not see. */
  encapsulated: boolean;
}

function dissect(file: string): TsharkFrame[] {
  const rows = tsharkFields(
    file,
    ["dns.qry.name", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"],
    "tcp || udp",
  );
  return rows.map((r) => {
    const [frame, qname, s4, d4, s6, d6, ts, td, us, ud] = r as [string, string, string, string, string, string, string, string, string, string];
    const srcs = [s4, s6].join(",").split(",").filter((x) => x !== "");
    const tcp = ts !== "";
    const first = (v: string): number => Number(v.split(",")[0]);
    const name = qname.split(",")[0]!;
    return {
      frame: Number(frame),
      // tshark spells the root "<Root>" and a question it could not read as an empty field.
      qname: name === "<Root>" ? "" : name === "" ? null : name,
      src: srcs[0] ?? "",
      dst: [d4, d6].join(",").split(",").filter((x) => x !== "")[0] ?? "",
      proto: tcp ? 6 : 17,
      sport: first(tcp ? ts : us),
      dport: first(tcp ? td : ud),
      encapsulated: srcs.length > 1 || (tcp ? ts : us).includes(","),
    };
  });
}

function flowKey(a: string, pa: number, b: string, pb: number, proto: number): string {
  return `${[`${a}|${pa}`, `${b}|${pb}`].sort().join(" <-> ")} proto ${proto}`;
}

const files = captureFiles();

test("the shared data holds the captures this test is about", () => {
  assert.ok(files.length >= 70, `only ${files.length} captures under ${DATA_DIR}`);
});

describe("captures", () => {
  for (const file of files) {
    test(file.slice(DATA_DIR.length), async () => {
      k.reset();
      const frames = await ethernetFrames(file);
      assert.ok(frames.every((f) => f !== null), "a link type the test cannot rebuild as Ethernet");

      // Run every frame; remember how many events each produced, to attribute them afterwards.
      const perFrame: number[] = [];
      let before = k.stats("xdpIngress").event;
      for (const f of frames) {
        if (f.length < 14) {
          perFrame.push(0);
          continue;
        }
        assert.equal(k.run("xdpIngress", f).retval, XDP_PASS, "no model: every frame passes");
        const now = k.stats("xdpIngress").event;
        perFrame.push(Number(now - before));
        before = now;
      }
      assert.equal(k.stats("xdpIngress").lost_ringbuf, 0n);
      const events = await k.takeEvents(perFrame.reduce((a, b) => a + b, 0));
      const dnsByFrame = new Map<number, DnsEvent>();
      let at = 0;
      perFrame.forEach((n, i) => {
        for (let j = 0; j < n; j++) {
          const e = events[at++]!;
          if (e.kind === EVENT_KIND.dns && !dnsByFrame.has(i + 1)) dnsByFrame.set(i + 1, e);
        }
      });
      const kernelName = (e: DnsEvent | undefined): string | null =>
        e === undefined || e.qnameLen === 0 ? null : dottedName(e.msg.subarray(12, 12 + e.qnameLen));

      const ts = dissect(file);
      const dnsPort = (t: TsharkFrame): boolean => t.sport === 53 || t.dport === 53;

      // DNS over UDP: frame by frame, the name and the 5-tuple.
      for (const t of ts.filter((x) => x.proto === 17 && dnsPort(x) && !x.encapsulated)) {
        const e = dnsByFrame.get(t.frame);
        assert.equal(kernelName(e), t.qname, `frame ${t.frame}: question name`);
        if (e === undefined) continue;
        assert.deepEqual(
          [e.tuple.saddr, e.tuple.daddr, e.tuple.sport, e.tuple.dport, e.tuple.proto],
          [t.src, t.dst, t.sport, t.dport, 17],
          `frame ${t.frame}: 5-tuple`,
        );
      }
      // DNS over TCP: tshark names a message where its reassembly ends, the kernel where it starts.
      const tcpNames = (names: (string | null)[]): string[] => names.filter((n): n is string => n !== null).sort();
      assert.deepEqual(
        tcpNames([...dnsByFrame.values()].filter((e) => e.tuple.proto === 6).map(kernelName)),
        tcpNames(ts.filter((x) => x.proto === 6 && dnsPort(x) && !x.encapsulated).map((x) => x.qname)),
        "names of DNS over TCP",
      );

      // The flow table: every conversation of two or more packets, with its packet count; nothing else.
      const conv = new Map<string, number>();
      for (const t of ts) {
        if (t.encapsulated || (t.proto === 17 && dnsPort(t))) continue;
        const key = flowKey(t.src, t.sport, t.dst, t.dport, t.proto);
        conv.set(key, (conv.get(key) ?? 0) + 1);
      }
      const kernelFlows = new Map(k.flows().map((f: Flow) => [flowKey(f.addrA, f.portA, f.addrB, f.portB, f.proto), Number(f.dir[0].packets + f.dir[1].packets)]));
      const expected = new Map([...conv].filter(([, n]) => n >= 2));
      assert.deepEqual(new Map([...kernelFlows].sort()), new Map([...expected].sort()), "flows and their packet counts");
    });
  }
});
