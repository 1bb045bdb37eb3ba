// aggregateStream: the v2 field decides; rows written before it (v1 bytes, v1 JSON kept in Redis) fall
// back to their indicator measure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import avro from "avsc";
import { aggregateStream } from "../src/aggregate-stream.js";
import { decodeAs, type MeasureSummary, type WindowAggregate } from "../src/avro.js";
import { fingerprintBytes } from "../src/avro-fingerprint.js";
import { REPO_ROOT } from "../src/stack-endpoints.js";
import { windowAggregate } from "./window-aggregate.js";

const indicator = (name: string): MeasureSummary => ({ name, count: 4, mean: 0.25, variance: 0.1875, min: 0, max: 1, p50: null, p90: null, p99: null });

/** A DNS-or-flow source row of four events, final, in the v1 shape unless `stream` is given. */
function row(o: Partial<WindowAggregate>): WindowAggregate {
  return windowAggregate({ dimension: "source", key: "198.18.0.1", stream: null, count: 4, rate_per_s: 4 / 60, final: true, aggregator_instance: "t/0", ...o });
}

test("the stream field decides, whatever the measures are called", () => {
  assert.equal(aggregateStream(row({ stream: "flow", measures: [indicator("nxdomain")] })), "flow");
  assert.equal(aggregateStream(row({ stream: "dns", measures: [] })), "dns");
});

test("a record written with WindowAggregate v1 reads stream null and its indicator names the stream", () => {
  const v1 = JSON.parse(readFileSync(join(REPO_ROOT, "schemas/history/WindowAggregate/v1.avsc"), "utf8")) as avro.Schema;
  const writer = avro.Type.forSchema(v1);
  for (const [name, stream] of [["nxdomain", "dns"], ["rst", "flow"]] as const) {
    const { stream: _s, ...old } = row({ measures: [indicator("packet_size"), indicator(name)] });
    const got = decodeAs<WindowAggregate>("WindowAggregate", Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintBytes(v1), writer.toBuffer(old)]));
    assert.equal(got.stream, null);
    assert.equal(aggregateStream(got), stream);
  }
});

test("v1 JSON without the property falls back too; a row that says neither has no stream", () => {
  const { stream: _s, ...old } = row({ measures: [indicator("rst")] });
  assert.equal(aggregateStream(JSON.parse(JSON.stringify(old)) as WindowAggregate), "flow");
  assert.equal(aggregateStream(row({ measures: [indicator("packet_size")] })), null);
});
