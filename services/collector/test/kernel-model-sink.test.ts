// The kernel model sink follows bpf/stoq_model.h's swap protocol: the inactive slot is written in full
// with version 0, then with the real version, and only then is `active` flipped with one control write;
// on the real kernel the next query is scored by the new model and the previous slot is left as it was.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { decodeControl, encodeModel, MODE, MODEL_SLOT } from "../../../lib/src/model/layout.js";
import { fixtureModel } from "../../../test/kernel/fixture-runner.js";
import { buildPacket } from "../../../test/kernel/packets.js";
import { KernelClock } from "../src/kernel-clock.js";
import { KernelEventMapper, type MappedRecord } from "../src/kernel-events.js";
import { INITIAL_CONTROL } from "../src/kernel-loader.js";
import { KernelModelSink, type MapWriter } from "../src/kernel-model-sink.js";
import { KernelHarness } from "./xdp-harness.js";

const u32 = (n: number): Buffer => Buffer.from([n, 0, 0, 0]);

test("a model is written to the inactive slot with version 0, then with its version, then active flips", () => {
  const writes: { map: string; key: number; value: Buffer }[] = [];
  const recorder = (map: string): MapWriter => ({ update: (key, value) => void writes.push({ map, key: key.readUInt32LE(0), value: Buffer.from(value) }) });
  const sink = new KernelModelSink(recorder("models"), recorder("control"), INITIAL_CONTROL);
  const m5 = fixtureModel("benign", 5n);
  sink.apply(m5);
  const bytes = encodeModel(m5);
  const zeroVersion = Buffer.from(bytes);
  zeroVersion.writeBigUInt64LE(0n, 0);
  assert.deepEqual(
    writes.map((w) => [w.map, w.key]),
    [["models", MODEL_SLOT.B], ["models", MODEL_SLOT.B], ["control", 0]],
  );
  assert.deepEqual(writes[0]!.value, zeroVersion);
  assert.deepEqual(writes[1]!.value, bytes);
  assert.deepEqual(decodeControl(writes[2]!.value), { active: MODEL_SLOT.B, mode: MODE.observe, shadow: 0 });

  writes.length = 0;
  sink.setMode("enforce");
  sink.apply(fixtureModel("threat", 6n));
  assert.deepEqual(writes.map((w) => [w.map, w.key]), [["control", 0], ["models", MODEL_SLOT.A], ["models", MODEL_SLOT.A], ["control", 0]]);
  assert.deepEqual(decodeControl(writes[3]!.value), { active: MODEL_SLOT.A, mode: MODE.enforce, shadow: 0 });
  assert.equal(sink.version, 6n);
});

let h: KernelHarness;
before(() => {
  h = KernelHarness.open();
});
after(async () => {
  await h?.close();
});

test("on the kernel, the next query after apply() is scored by the new model and the old slot is untouched", async () => {
  const models = h.kernel.map("stoq_models");
  const sink = new KernelModelSink(models, h.kernel.map("stoq_control"), INITIAL_CONTROL);
  const mapper = new KernelEventMapper({ node: "n", clock: new KernelClock(), facts: null });
  const scoredVersion = async (sport: number): Promise<number | null> => {
    h.run([buildPacket({ ipv4: { src: "198.18.2.1", dst: "198.18.2.53" }, udp: { sport, dport: 53 }, dns: { id: sport, qname: "mail.example.org" } })]);
    const out: MappedRecord[] = [];
    for (const b of await h.take()) mapper.batch(b, out);
    const dns = out.find((r) => r.name === "DnsEvent");
    return dns?.name === "DnsEvent" ? dns.value.model_version : null;
  };
  assert.equal(await scoredVersion(42000), null, "no model: unscored");
  sink.apply(fixtureModel("benign", 11n));
  assert.deepEqual(models.lookup(u32(MODEL_SLOT.B)), encodeModel(fixtureModel("benign", 11n)));
  assert.equal(await scoredVersion(42001), 11);
  sink.apply(fixtureModel("benign", 12n));
  assert.equal(await scoredVersion(42002), 12);
  assert.deepEqual(models.lookup(u32(MODEL_SLOT.B)), encodeModel(fixtureModel("benign", 11n)), "the previous slot keeps v11");
  assert.deepEqual(decodeControl(h.kernel.map("stoq_control").lookup(u32(0))!), { active: MODEL_SLOT.A, mode: MODE.observe, shadow: 0 });
});
