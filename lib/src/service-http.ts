// The HTTP surface every STOQ service exposes: /metrics (prom-client), /healthz (process alive) and
// /readyz (its dependencies connected), registered with the stack's Prometheus as a scrape target.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { register } from "prom-client";
import { registerScrapeTarget, type ScrapeRegistration } from "./scrape-targets.js";

export interface ServiceHttpOptions {
  readonly service: string;
  readonly instance: string;
  /** The node name, stable across restarts (instance carries the pid): a label dashboards can group by. */
  readonly node: string;
  /** 0 picks a free port, which is what several instances on one machine need. */
  readonly port: number;
  /** Answers /readyz; a service is ready once its consumers joined and its producer connected. */
  readonly ready: () => boolean;
  /** Write a Prometheus file_sd target (default true). */
  readonly registerTarget?: boolean;
}

export interface ServiceHttp {
  readonly port: number;
  close(): Promise<void>;
}

export async function startServiceHttp(o: ServiceHttpOptions): Promise<ServiceHttp> {
  register.setDefaultLabels({ service: o.service, node: o.node });
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url.startsWith("/metrics")) {
      register.metrics().then(
        (body) => res.writeHead(200, { "content-type": register.contentType }).end(body),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    } else if (url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (url === "/readyz") {
      const ready = o.ready();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n");
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const target: ScrapeRegistration | null =
    o.registerTarget === false ? null : registerScrapeTarget({ service: o.service, instance: o.instance, port });
  return {
    port,
    async close() {
      target?.unregister();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
