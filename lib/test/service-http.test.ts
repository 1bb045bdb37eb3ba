import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter } from "prom-client";
import { startServiceHttp } from "../src/service-http.js";

test("every series carries the service and the node (stable across restarts), not only the per-process instance", async () => {
  const c = new Counter({ name: "stoq_test_things_total", help: "Things counted by this test." });
  c.inc(3);
  let ready = false;
  const http = await startServiceHttp({ service: "tester", instance: "n1-123", node: "n1", port: 0, ready: () => ready, registerTarget: false });
  try {
    const body = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
    assert.match(body, /^stoq_test_things_total\{service="tester",node="n1"\} 3$/m);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/readyz`)).status, 503);
    ready = true;
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/readyz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/healthz`)).status, 200);
  } finally {
    await http.close();
  }
});
