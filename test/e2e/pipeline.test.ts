// End to end on the real stack: the demo scenario through the four services, asserting what arrived on
// each topic, in Redis and in Prometheus against figures computed independently from the capture.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../lib/src/config.js";
import { openModelUpdate } from "../../lib/src/avro.js";
import { publicKeyFromPem, verifyModelUpdate } from "../../lib/src/model/signing.js";
import { stackEndpoints } from "../../lib/src/stack-endpoints.js";
import { promQuery, runDemo } from "../../cli/demo.js";
import { encode } from "../../lib/src/avro.js";


test("packets to a model update: records, aggregates, an anomaly, a signed model applied by the collector", { timeout: 600_000 }, async () => {
  const lines: string[] = [];
  const result = await runDemo({ durationS: 60, qps: 20, timeoutS: 240, keepStack: true, say: (l) => lines.push(l) });
  const dump = `demo output:\n${lines.join("\n")}\nlogs: ${result.logDir}`;

  // Collector: every DNS message of the background and of the real dns2tcp capture (9,070 packets).
  assert.ok(result.records["stoq.dns.v1"]! >= result.backgroundPackets + 9070, dump);
  assert.ok(result.records["stoq.flows.v1"]! > 0, dump);
  assert.ok(result.records["stoq.features.v1"]! >= result.backgroundPackets / 2, dump);

  // Aggregator: windows were published and written to Redis.
  assert.ok(result.records["stoq.aggregates.v1"]! > 0, dump);
  assert.ok(result.redisAggregateKeys > 0, dump);

  // Detector: the tunnel burst (thousands of queries in one second against a ~20/s baseline) is flagged.
  assert.ok(result.anomalies.length > 0, dump);
  assert.ok(result.anomalies.every((a) => a.id.length > 0 && a.recommendation.length > 0), dump);

  // Trainer: the update verifies with the collector's public key, and the collector reported applying it.
  const config = loadConfig();
  const update = result.modelUpdates.at(-1)!;
  const message = encode("ModelUpdate", update);
  const verified = verifyModelUpdate(message, [publicKeyFromPem(readFileSync(config.model.public_key_file, "utf8"))]);
  assert.equal(verified.version, update.version);
  assert.equal(openModelUpdate(message).update.model_name, config.model.name);
  assert.ok(result.appliedVersion >= update.version, dump);

  // Prometheus scraped every service of this run while it ran. Its targets are named by instance
  // (node-pid, from each service's start-up log line): the same job's series of earlier runs stay in
  // Prometheus and must not count either way.
  for (const job of ["collector", "aggregator", "detector", "trainer"]) {
    const instance = startedInstance(join(result.logDir, `${job}.log`), job);
    const seen = await promQuery(stackEndpoints().prometheusUrl, `max_over_time(up{job="${job}",instance="${instance}"}[10m])`);
    assert.equal(seen, 1, `Prometheus never scraped ${job} ${instance}\n${dump}`);
  }
});

/** The instance label a service registered with: `<node>-<pid>` of its "<job> started" log line. */
function startedInstance(logFile: string, job: string): string {
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes(`"${job} started"`)) continue;
    const { node, pid } = JSON.parse(line) as { node: string; pid: number };
    return `${node}-${pid}`;
  }
  throw new Error(`${logFile} has no "${job} started" line`);
}
