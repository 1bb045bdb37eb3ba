// The packet fixtures (test/fixtures/packets/*.json) through the XDP program with bpf_prog_test_run_opts:
// every header path, VLAN/QinQ, IPv6 extension chains, malformed DNS, TLS hellos whole and split, and the
// decision in every mode; then the same frames through the TC egress program, which shares the parser.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { STAT_NAMES, type StatName } from "../../services/collector/src/kernel-layout.js";
import { checkFixture, loadFixtures, runFixture } from "./fixture-runner.js";
import { StoqKernel } from "./kernel.js";

let k: StoqKernel;

before(() => {
  k = StoqKernel.open();
});

after(async () => {
  await k.close();
});

for (const { file, fixtures } of loadFixtures()) {
  describe(file, () => {
    for (const fx of fixtures) {
      test(`${fx.name}: ${fx.description}`, async () => {
        checkFixture(k, fx, await runFixture(k, fx));
      });
    }
  });
}

const VERDICT_COUNTERS: readonly StatName[] = ["verdict_pass", "verdict_drop"];

test("the TC egress program parses and counts every fixture as the XDP program does (it only never drops)", async () => {
  let compared = 0;
  for (const { fixtures } of loadFixtures()) {
    for (const fx of fixtures) {
      // The decision fixtures differ by design (egress never drops); the egress ones are fixtures of their own.
      if (fx.hook !== undefined || fx.setup !== undefined) continue;
      const xdp = await runFixture(k, fx, "xdpIngress");
      const tc = await runFixture(k, fx, "tcEgress");
      for (const n of STAT_NAMES) {
        if (VERDICT_COUNTERS.includes(n)) continue;
        assert.equal(tc.delta[n] ?? 0n, xdp.delta[n] ?? 0n, `${fx.name}: counter ${n}`);
      }
      assert.equal(tc.delta.verdict_pass ?? 0n, BigInt(fx.packets.length), `${fx.name}: TC passes everything`);
      assert.deepEqual(
        tc.events.map((e) => [e.kind, e.hook]),
        xdp.events.map((e) => [e.kind, 1]),
        `${fx.name}: events`,
      );
      compared++;
    }
  }
  assert.ok(compared >= 40, `only ${compared} fixtures compared`);
});
