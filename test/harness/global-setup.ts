import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

/** Starts one real `nats-server -js` on a free loopback port with a temporary store for the whole test run. */

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
  }
}

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
      socket.once("connect", () => { socket.destroy(); resolve(true); });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nats-server did not listen on 127.0.0.1:${port} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let server: ChildProcess | undefined;
let storeDir: string | undefined;

const builtEntryPoints = ["services/augment/dist/main.js", "services/trainer/dist/main.js", "services/evaluator/dist/main.js", "cli/dist/main.js"];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const unbuilt = builtEntryPoints.filter((path) => !existsSync(join(root, path)));
  if (unbuilt.length > 0) throw new Error(`${unbuilt.join(", ")} missing: run \`npm run build\` before \`npm test\``);
  const which = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  if (which.error) {
    throw new Error("nats-server not found on PATH: install it with `apt-get install -y nats-server` (Debian/Ubuntu)");
  }
  const port = await freePort();
  storeDir = mkdtempSync(join(tmpdir(), "mnist-nats-"));
  server = spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: "ignore" });
  await waitForPort(port, 10_000);
  project.provide("natsUrl", `nats://127.0.0.1:${port}`);
  return async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once("exit", r));
      server.kill("SIGTERM");
      await exited;
    }
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  };
}
