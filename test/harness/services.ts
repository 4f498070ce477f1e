import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export type ServiceName = "augment" | "trainer" | "evaluator";

export interface LogLine {
  level: string;
  service: string;
  msg: string;
  [field: string]: unknown;
}

export interface StartedService {
  child: ChildProcess;
  /** The loopback gRPC address from the service's `ready` line. */
  address: string;
  logs: LogLine[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Everything the process has written to stderr so far. */
  stderr(): string;
}

/** Runs the built service as its own process group (so a test can check nothing outlives it) and waits for `ready`. */
export async function startService(name: ServiceName, env: Record<string, string>, readyTimeoutMs = 15_000): Promise<StartedService> {
  const child = spawn(process.execPath, [`${repoRoot}services/${name}/dist/main.js`], {
    // No dashboard unless a test asks for one: parallel test files would all want port 8080.
    env: { ...process.env, GRPC_HOST: "127.0.0.1", GRPC_PORT: "0", DASHBOARD_PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const logs: LogLine[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    // Not ready in time: killed (its whole group), so no test leaves it behind.
    const timer = setTimeout(() => {
      reject(new Error(`${name} not ready within ${readyTimeoutMs} ms; stderr: ${stderr}`));
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, readyTimeoutMs);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (entry.msg === "ready") {
          clearTimeout(timer);
          resolve(String(entry.grpc));
        }
      } catch {
        logs.push({ level: "raw", service: name, msg: line });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before ready; stderr: ${stderr}`));
    });
  });
  return { child, address, logs, exited, stderr: () => stderr };
}

/** True while any process of the group led by pid is alive. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a built entry point to completion and returns its exit code and output. */
export function runNode(script: string, args: string[], env: Record<string, string> = {}, timeoutMs = 30_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [`${repoRoot}${script}`, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} ${args.join(" ")} did not finish within ${timeoutMs} ms; stdout: ${stdout.slice(-2000)}; stderr: ${stderr.slice(-6000)}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
