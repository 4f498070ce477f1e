import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "nats";
import type { Logger } from "./logger.js";

export interface NatsOptions {
  /** One URL or several, comma-separated. */
  url: string;
  token?: string;
  user?: string;
  password?: string;
  /** A .creds file (user JWT and NKEY seed). */
  credsFile?: string;
  /** A PEM CA file: connect with TLS, verifying the server against it. */
  caFile?: string;
  /** Connection name, shown by the server's monitoring. */
  name: string;
  logger: Logger;
}

/**
 * Connects and keeps reconnecting for ever: a service outlives NATS restarts and does not
 * need NATS to be up before it starts. Every state change is logged.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const connection = await connect({
    servers: options.url.split(","),
    token: options.token,
    user: options.user,
    pass: options.password,
    ...(options.credsFile === undefined ? {} : { authenticator: credsAuthenticator(new Uint8Array(readFileSync(options.credsFile))) }),
    ...(options.caFile === undefined ? {} : { tls: { caFile: options.caFile } }),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
  });
  options.logger.info({ nats: connection.getServer() }, "nats connected");
  void (async () => {
    for await (const change of connection.status()) {
      // Ping timer ticks and stale-connection probes are routine, not state changes worth a line.
      const routine = change.type === "pingTimer" || change.type === "staleConnection";
      const level = change.type === "error" || change.type === "disconnect" ? "warn" : routine ? "debug" : "info";
      options.logger[level]({ nats: change.type, detail: String(change.data) }, "nats state changed");
    }
  })();
  return connection;
}
