import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { boundHttpServer } from "./http-limits.js";
import type { Logger } from "./logger.js";

export { Counter, Gauge, Histogram, Registry };

/**
 * A service's Prometheus registry: prom-client's default process and Node.js metrics, and every
 * series labelled with the service's name.
 */
export function createMetrics(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsServer {
  /** The bound port (METRICS_PORT may be 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves the registry at GET /metrics in Prometheus' text format; everything else is 404. */
export async function serveMetrics(registry: Registry, host: string, port: number, logger: Logger): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (request.method !== "GET" || path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => {
        logger.error({ err: error }, "metrics not collected");
        response.writeHead(500, { "content-type": "text/plain" }).end("metrics not collected\n");
      },
    );
  });
  // Scrapers and people: a few at a time.
  boundHttpServer(server, 64);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
