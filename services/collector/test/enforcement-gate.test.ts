// A collector configured to enforce stays in observe until the newest model the topic had at start is
// applied: not on an older model applied first, not while the topic cannot be read, and never after close.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "../../../lib/src/log.js";
import { AppliedVersion, enforceWhenCurrent } from "../src/enforcement-gate.js";

const log = createLogger("gate-test", "silent");

test("enforces only once the newest version on the topic is applied, not when an older one is", async () => {
  const applied = new AppliedVersion();
  const events: string[] = [];
  const gate = enforceWhenCurrent({
    newestOnTopic: () => Promise.resolve(3n),
    applied,
    enforce: () => events.push(`enforce at v${applied.value}`),
    signal: new AbortController().signal,
    log,
  });
  await sleep(5);
  applied.set(1n);
  events.push("applied v1");
  await sleep(5);
  applied.set(3n);
  events.push("applied v3");
  assert.equal(await gate, true);
  assert.deepEqual(events, ["applied v1", "applied v3", "enforce at v3"]);
});

test("an empty topic (nothing to wait for) enforces at once; an unreadable one is retried", async () => {
  let calls = 0;
  let enforced = 0;
  const ok = await enforceWhenCurrent({
    newestOnTopic: () => (++calls < 3 ? Promise.reject(new Error("broker away")) : Promise.resolve(0n)),
    applied: new AppliedVersion(),
    enforce: () => enforced++,
    signal: new AbortController().signal,
    log,
  });
  assert.equal(ok, true);
  assert.equal(calls, 3);
  assert.equal(enforced, 1);
});

test("closing while waiting never enforces", async () => {
  const ac = new AbortController();
  let enforced = false;
  const gate = enforceWhenCurrent({ newestOnTopic: () => Promise.resolve(9n), applied: new AppliedVersion(5n), enforce: () => (enforced = true), signal: ac.signal, log });
  await sleep(5);
  ac.abort();
  assert.equal(await gate, false);
  assert.equal(enforced, false);
});
