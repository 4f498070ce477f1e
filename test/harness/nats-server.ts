import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nats-server did not listen on 127.0.0.1:${port} within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface NatsServer {
  url: string;
  /** The server's counters (its /varz monitoring endpoint, when started with `monitor`): messages and bytes in and out since it started. */
  varz(): Promise<{ in_msgs: number; out_msgs: number; in_bytes: number; out_bytes: number }>;
  /** Stops the server (SIGTERM) and starts it again on the same port and JetStream store. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface NatsServerOptions {
  /** nats-server configuration file text (such as an `authorization { … }` block requiring users or a token). */
  config?: string;
  /** Require TLS from clients, with this certificate and key (PEM paths). */
  tls?: { cert: string; key: string };
  /** Serve HTTP monitoring on a free port, for varz(). */
  monitor?: boolean;
}

/** A real `nats-server -js` on a free loopback port with a temporary store, for one test run or one test file. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const which = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  if (which.error) throw new Error("nats-server not found on PATH: install it with `apt-get install -y nats-server` (Debian/Ubuntu)");
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), "mnist-nats-"));
  const monitorPort = options.monitor ? await freePort() : undefined;
  const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
  if (monitorPort !== undefined) args.push("-m", String(monitorPort));
  if (options.config !== undefined) {
    writeFileSync(join(storeDir, "nats-server.conf"), options.config);
    args.push("-c", join(storeDir, "nats-server.conf"));
  }
  if (options.tls) args.push("--tls", "--tlscert", options.tls.cert, "--tlskey", options.tls.key);
  const launch = () => spawn("nats-server", args, { stdio: "ignore" });
  const halt = async (server: ChildProcess) => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  };
  let server = launch();
  await waitForPort(port, 10_000);
  return {
    url: `nats://127.0.0.1:${port}`,
    varz: async () => {
      if (monitorPort === undefined) throw new Error("start the nats-server with { monitor: true } to read its counters");
      return (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json() as ReturnType<NatsServer["varz"]>;
    },
    restart: async (downMs = 0) => {
      await halt(server);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      server = launch();
      await waitForPort(port, 10_000);
    },
    stop: async () => {
      await halt(server);
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
