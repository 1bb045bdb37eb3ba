import { test } from "node:test";
import assert from "node:assert/strict";
import { Observer } from "../src/observer.js";
import { replayFile } from "../src/replay.js";
import { allCaptures } from "./tshark.js";

// 34 packets over 2.38 s of capture time.
const XMPP = allCaptures().find((p) => p.endsWith("xmpp-starttls.pcap"))!;

test("replay paces packets by capture time divided by the speed", async () => {
  let flows = 0;
  const fast = await replayFile(XMPP, new Observer((o) => void (o.kind === "flow" && flows++)), { speed: "max" });
  assert.equal(fast.packets, 34);
  assert.ok(fast.captureSpanUs > 2_300_000);
  assert.ok(flows > 0);
  const paced = await replayFile(XMPP, new Observer(() => undefined), { speed: 10 });
  const expectedMs = fast.captureSpanUs / 1000 / 10;
  assert.ok(paced.wallMs >= expectedMs * 0.9, `speed 10 took ${paced.wallMs} ms, expected about ${expectedMs}`);
  assert.ok(paced.wallMs < expectedMs * 3 + 200, `speed 10 took ${paced.wallMs} ms`);
  assert.ok(fast.wallMs < paced.wallMs);
});

test("a bad speed is refused and a replay can be aborted", async () => {
  await assert.rejects(replayFile(XMPP, new Observer(() => undefined), { speed: 0 }), /positive number/);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(replayFile(XMPP, new Observer(() => undefined), { speed: 1, signal: ac.signal }));
});
