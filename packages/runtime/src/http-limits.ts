import type { Server } from "node:http";

/**
 * Bounds on what clients can hold of an HTTP server: connections, and the time a request's
 * headers and whole body may take to arrive (a client that stops mid-request is cut off instead
 * of holding its connection for Node's default five minutes).
 */
export function boundHttpServer(server: Server, maxConnections: number): void {
  server.maxConnections = maxConnections;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
}
