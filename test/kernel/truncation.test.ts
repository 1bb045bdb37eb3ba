// Every frame of the fixtures marked "truncate", cut at every length from 14 bytes (the least a test run
// accepts) to one short of whole, through both programs: never a crash, always passed, and the cut counted
// as exactly the error of the layer it falls in (the DNS message's own length bounds, not the frame's).
// The skb test run refuses frames without a whole fixed IP header (no real egress skb lacks one), so TC
// egress starts there.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BpfError } from "../../services/collector/src/bpf.js";
import { STAT_NAMES, type StatName } from "../../services/collector/src/kernel-layout.js";
import { framesOf, loadFixtures } from "./fixture-runner.js";
import { StoqKernel, TC_ACT_OK, XDP_PASS, type Hook } from "./kernel.js";
import type { Layers, PacketSpec } from "./packets.js";

let k: StoqKernel;

before(() => {
  k = StoqKernel.open();
});

after(async () => {
  await k.close();
});

/** The error a frame cut to `len` bytes must count, null when the cut leaves nothing malformed. */
function expectedError(spec: PacketSpec, layers: Layers, len: number): StatName | null {
  if (len < layers.l3) return spec.eth?.pppoe && len >= layers.l3 - 8 ? "err_pppoe_short" : "err_vlan_short";
  if (len < layers.l4) {
    if (spec.ipv4) return "err_ipv4_short";
    return len < layers.l3 + 40 ? "err_ipv6_short" : "err_ipv6_ext_short";
  }
  if (len < layers.payload) return spec.udp ? "err_udp_short" : "err_tcp_short";
  if (spec.dns && !spec.dns.tcpPrefix) {
    const inMsg = len - layers.payload;
    if (inMsg < 12) return "err_dns_short";
    const questionEnd = 12 + (spec.dns.qname ?? "www.example.com").replace(/\.$/, "").length + 2 + 4;
    return inMsg < questionEnd ? "err_dns_name_truncated" : null;
  }
  return null;
}

for (const hook of ["xdpIngress", "tcEgress"] as Hook[]) {
  test(`${hook}: every truncation of every truncatable fixture frame is passed and counted at its layer`, async () => {
    let cuts = 0;
    for (const { fixtures } of loadFixtures()) {
      for (const fx of fixtures) {
        if (!fx.truncate) continue;
        k.reset();
        for (const { frame, layers, spec } of framesOf(fx)) {
          assert.ok(layers && spec, `${fx.name}: truncation needs built frames`);
          const fixedIp = layers.l3 + (spec.ipv4 ? 20 : 40);
          for (let len = 14; len < frame.length; len++) {
            const where = `${fx.name} cut to ${len} of ${frame.length}`;
            // The skb harness reads an untagged frame's IP header itself and refuses it when cut.
            if (hook === "tcEgress" && len < fixedIp && layers.l3 === 14) {
              assert.throws(() => k.run(hook, frame.subarray(0, len)), (e: unknown) => e instanceof BpfError && e.errno === 22, where);
              cuts++;
              continue;
            }
            const r = await k.runCollect(hook, frame.subarray(0, len));
            assert.equal(r.retval, hook === "xdpIngress" ? XDP_PASS : TC_ACT_OK, where);
            assert.equal(r.delta.packets, 1n, where);
            const errors = STAT_NAMES.filter((n) => n.startsWith("err_") && (r.delta[n] ?? 0n) !== 0n);
            assert.ok(errors.length <= 1, `${where}: ${errors.join(", ")}`);
            const want = expectedError(spec, layers, len);
            // A cut inside a TCP payload (DNS over TCP, a ClientHello) may or may not be malformed:
            // there only "at most one error" holds.
            const tcpPayload = spec.tcp !== undefined && len > layers.payload;
            if (!tcpPayload) assert.deepEqual(errors, want ? [want] : [], where);
            cuts++;
          }
        }
      }
    }
    assert.ok(cuts > 1000, `only ${cuts} cuts`);
  });
}
