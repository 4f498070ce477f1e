import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitUntilServing, type ClientTls } from "@mnist/grpc";
import { Child } from "./child.js";

// cli/dist/launcher/ → the repository (or the image's /app): the launcher runs the services built beside it.
const root = fileURLToPath(new URL("../../../", import.meta.url));

export type ServiceName = "augment" | "trainer" | "evaluator";

export function serviceEntry(service: ServiceName): string {
  return join(root, "services", service, "dist", "main.js");
}

export interface LocalClusterOptions {
  /** An existing NATS with JetStream; unset, a nats-server child is started on a free loopback port. */
  natsUrl?: string;
  /** The started nats-server's store, kept afterwards; unset, a temporary directory removed on stop. */
  natsDataDir?: string;
  augmentReplicas: number;
  trainers: number;
  /** How long each process may take to answer gRPC health SERVING. */
  startTimeoutMs: number;
  /** How long each process may take to stop after SIGTERM before it is killed. */
  graceMs: number;
  /** Environment for every service, over the launcher's own. */
  env?: NodeJS.ProcessEnv;
  /** TLS for the health probes, when the services serve TLS. */
  tls?: ClientTls;
  /** The evaluator's gRPC port; unset, a free one. */
  evaluatorPort?: number;
  /** The evaluator's dashboard port (0: off); unset, DASHBOARD_PORT from the environment, or the evaluator's default. */
  dashboardPort?: number;
  onServiceLine?(name: string, line: string): void;
  /** A process is up and answering. */
  onStarted?(name: string, started: StartedProcess): void;
}

export interface StartedProcess {
  /** nats://host:port for NATS, host:port (gRPC) for a service. */
  address: string;
  pid: number;
  /** NATS only: its JetStream store, and whether it is removed on stop. */
  store?: { dir: string; temporary: boolean };
}

/** Starting the cluster failed, or a process of it died: the process's name and last lines say why. */
export class LaunchError extends Error {
  override readonly name = "LaunchError";
  readonly code = "LAUNCH_FAILED";

  constructor(
    message: string,
    readonly process: string,
    readonly lastLines: readonly string[],
  ) {
    super(message);
  }
}

function failedStart(child: Child, why: string): LaunchError {
  return new LaunchError(`${child.name} ${why}`, child.name, child.lastLines());
}

/** Resolves with the first value `parse` finds in the child's lines; rejects when it exits or the time is up. */
function awaitLine<T>(child: Child, lines: { listen(fn: (line: string) => void): void }, parse: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(failedStart(child, `did not report ${what} within ${timeoutMs / 1000} s`)), timeoutMs);
    lines.listen((line) => {
      const value = parse(line);
      if (value !== undefined) {
        clearTimeout(timer);
        resolve(value);
      }
    });
    void child.exited.then((exit) => {
      clearTimeout(timer);
      reject(failedStart(child, `${child.describeExit(exit)} before ${what}`));
    });
  });
}

/** A child whose lines can be listened to after it has started. */
function startChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, onLine?: (name: string, line: string) => void) {
  const listeners: ((line: string) => void)[] = [];
  const child = new Child(name, command, args, {
    env,
    onLine: (line) => {
      onLine?.(name, line);
      for (const listener of listeners) listener(line);
    },
  });
  return { child, lines: { listen: (fn: (line: string) => void) => listeners.push(fn) } };
}

/**
 * NATS (unless one is given), the augment replicas, the trainers and the evaluator as child
 * processes of this one, each on a free loopback port, each waited for until its gRPC health
 * answers SERVING. stop() and kill() may be called at any time, a start in progress included.
 */
export class LocalCluster {
  natsUrl = "";
  /** The evaluator's gRPC address, for mnistctl --server. */
  evaluator = "";
  /** The dashboard's URL, or "" when it is off. */
  dashboard = "";
  private readonly services: Child[] = [];
  private nats: Child | undefined;
  private temporaryStore: string | undefined;
  private stopping = false;
  private failed: Promise<never> | undefined;

  constructor(private readonly options: LocalClusterOptions) {}

  /** Every process started so far, NATS first. */
  get processes(): Child[] {
    return [...(this.nats ? [this.nats] : []), ...this.services];
  }

  /** After start(): rejects with a LaunchError when any process exits before stop() is called. */
  get failure(): Promise<never> {
    if (!this.failed) throw new Error("LocalCluster.failure before start()");
    return this.failed;
  }

  /** Starts everything; a failure stops what had started and rejects with a LaunchError. */
  async start(): Promise<void> {
    const options = this.options;
    const missing = (["augment", "trainer", "evaluator"] as const).map(serviceEntry).filter((path) => !existsSync(path));
    if (missing.length > 0) throw new LaunchError(`${missing.join(", ")} missing: build first (npm run build, or npm ci)`, "launcher", []);
    try {
      this.natsUrl = options.natsUrl ?? (await this.startNats());
      // Port 0: each service binds a free port and reports it in its `ready` line.
      const env = { ...process.env, ...options.env, NATS_URL: this.natsUrl, GRPC_HOST: "127.0.0.1", GRPC_PORT: "0" };
      const starts: Promise<ReadyLine>[] = [];
      for (let i = 1; i <= options.augmentReplicas; i++) starts.push(this.startService(`augment-${i}`, "augment", env));
      for (let i = 1; i <= options.trainers; i++) starts.push(this.startService(`trainer-${i}`, "trainer", env));
      const dashboard = options.dashboardPort === undefined ? {} : { DASHBOARD_PORT: String(options.dashboardPort) };
      const evaluator = this.startService("evaluator", "evaluator", { ...env, GRPC_PORT: String(options.evaluatorPort ?? 0), ...dashboard });
      // Every start is awaited, so none rejects unobserved; the first failure is the one reported.
      const results = await Promise.allSettled([...starts, evaluator]);
      const failed = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
      if (failed) throw failed.reason;
      const ready = await evaluator;
      this.evaluator = ready.grpc;
      this.dashboard = ready.dashboard === undefined || ready.dashboard === "off" ? "" : ready.dashboard;
      this.failed = Promise.race(
        this.processes.map((child) =>
          child.exited.then((exit) => {
            if (this.stopping) return new Promise<never>(() => undefined);
            throw new LaunchError(`${child.name} ${child.describeExit(exit)} while the cluster was up`, child.name, child.lastLines());
          }),
        ),
      );
      this.failed.catch(() => undefined);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops the services (SIGTERM, SIGKILL after the grace period), then NATS, then removes a temporary store. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.services.map((child) => child.stop(this.options.graceMs)));
    await this.nats?.stop(this.options.graceMs);
    this.removeStore();
  }

  /** Kills everything at once (a second Ctrl-C), synchronously. */
  kill(): void {
    this.stopping = true;
    for (const child of this.processes) child.kill();
    this.removeStore();
  }

  private removeStore(): void {
    if (this.temporaryStore) rmSync(this.temporaryStore, { recursive: true, force: true });
  }

  private async startNats(): Promise<string> {
    const options = this.options;
    let store = options.natsDataDir;
    if (store === undefined) store = this.temporaryStore = mkdtempSync(join(tmpdir(), "mnist-nats-"));
    else if (!existsSync(store)) mkdirSync(store, { recursive: true });
    // -p -1: the server picks a free port and says which.
    const { child, lines } = startChild("nats-server", "nats-server", ["-js", "-a", "127.0.0.1", "-p", "-1", "-sd", store], process.env, options.onServiceLine);
    if (this.stopping) child.kill();
    this.nats = child;
    const exit = await Promise.race([child.exited, new Promise<undefined>((resolve) => child.process.once("spawn", () => resolve(undefined)))]);
    if (exit?.error) {
      throw new LaunchError(
        `nats-server could not be started (${exit.error.message}): install it (apt-get install nats-server) or set NATS_URL to a NATS server with JetStream`,
        child.name,
        [],
      );
    }
    let listening: string | undefined;
    const ready = (line: string) => {
      listening ??= /Listening for client connections on (\S+:\d+)/.exec(line)?.[1];
      return line.includes("Server is ready") ? listening : undefined;
    };
    const url = await awaitLine(child, lines, ready, options.startTimeoutMs, "that it is ready");
    options.onStarted?.(child.name, { address: `nats://${url}`, pid: child.process.pid!, store: { dir: store, temporary: this.temporaryStore !== undefined } });
    return `nats://${url}`;
  }

  private async startService(name: string, service: ServiceName, env: NodeJS.ProcessEnv): Promise<ReadyLine> {
    const options = this.options;
    const { child, lines } = startChild(name, process.execPath, [serviceEntry(service)], env, options.onServiceLine);
    if (this.stopping) child.kill();
    this.services.push(child);
    const started = Date.now();
    const ready = await awaitLine(child, lines, readyLine, options.startTimeoutMs, "ready");
    const address = ready.grpc;
    const exited = child.exited.then((exit) => Promise.reject(failedStart(child, `${child.describeExit(exit)} before it was SERVING`)));
    exited.catch(() => undefined);
    const serving = waitUntilServing(address, { timeoutMs: Math.max(1_000, options.startTimeoutMs - (Date.now() - started)), tls: options.tls }).catch((error: unknown) => {
      throw failedStart(child, error instanceof Error ? error.message : String(error));
    });
    await Promise.race([serving, exited]);
    options.onStarted?.(name, { address, pid: child.process.pid! });
    return ready;
  }
}

/** What a service's `ready` line says: its gRPC address, and the evaluator's dashboard URL ("off" when off). */
interface ReadyLine {
  grpc: string;
  dashboard?: string;
}

function readyLine(line: string): ReadyLine | undefined {
  try {
    const entry = JSON.parse(line) as { msg?: unknown; grpc?: unknown; dashboard?: unknown };
    if (entry.msg !== "ready" || typeof entry.grpc !== "string") return undefined;
    return { grpc: entry.grpc, ...(typeof entry.dashboard === "string" ? { dashboard: entry.dashboard } : {}) };
  } catch {
    return undefined;
  }
}

/** `preferred` when nothing listens on it at `host`, else a port the system says is free. */
export async function freePort(host: string, preferred: number): Promise<number> {
  const bind = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(undefined));
      server.listen(port, host, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : undefined));
      });
    });
  return (await bind(preferred)) ?? (await bind(0)) ?? preferred;
}
