import { startNatsServer, type NatsServer, type NatsServerOptions } from "./nats-server.js";
import { runNode, startService, type StartedService } from "./services.js";

export interface Cluster {
  nats: NatsServer;
  /** The first augment replica (of `augments`). */
  augment: StartedService;
  augments: StartedService[];
  trainers: StartedService[];
  evaluator: StartedService;
  /** The evaluator's gRPC address, for --server. */
  readonly server: string;
  /** mnistctl against this cluster. */
  cli(args: string[], timeoutMs?: number): ReturnType<typeof runNode>;
  startTrainer(env?: Record<string, string>): Promise<StartedService>;
  startAugment(): Promise<StartedService>;
  startEvaluator(): Promise<StartedService>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  trainers?: number;
  augmentReplicas?: number;
  /** Environment for every service (AUTH_TOKEN, GRPC_TLS_*, NATS_USER, …). */
  env?: Record<string, string>;
  /** Environment for every `cli()` run (MNISTCTL_TOKEN, …). */
  cliEnv?: Record<string, string>;
  /** How the cluster's private nats-server is started (auth, TLS). */
  nats?: NatsServerOptions;
  trainerEnv?: Record<string, string>;
  evaluatorEnv?: Record<string, string>;
}

/**
 * A whole cluster of real processes on a private nats-server: augment replicas (one by default),
 * trainers, one evaluator. Private, so runs and trainers of parallel test files never meet.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const nats = await startNatsServer(options.nats);
  const base = { NATS_URL: nats.url, ...options.env };
  const services: StartedService[] = [];
  const track = (service: StartedService) => (services.push(service), service);
  const evaluatorEnv: Record<string, string> = { ...base, EVALUATOR_PLACEMENT_INTERVAL_MS: "200", EVALUATOR_REDELIVER_MS: "1000", ...options.evaluatorEnv };
  const startTrainer = async (env: Record<string, string> = {}) => track(await startService("trainer", { ...base, ...options.trainerEnv, ...env }));
  // A restarted evaluator comes back on the same port, as it would behind a Service: clients reconnect.
  const startEvaluator = async () => {
    const evaluator = track(await startService("evaluator", evaluatorEnv));
    evaluatorEnv.GRPC_PORT = evaluator.address.split(":").at(-1)!;
    return evaluator;
  };
  const startAugment = async () => track(await startService("augment", base));
  const augments: StartedService[] = [];
  for (let i = 0; i < (options.augmentReplicas ?? 1); i++) augments.push(await startAugment());
  const trainers: StartedService[] = [];
  for (let i = 0; i < (options.trainers ?? 1); i++) trainers.push(await startTrainer());
  const cluster: Cluster = {
    nats,
    augment: augments[0]!,
    augments,
    trainers,
    evaluator: await startEvaluator(),
    get server() {
      return this.evaluator.address;
    },
    cli: (args, timeoutMs = 120_000) => runNode("cli/dist/main.js", [...args, "--server", cluster.server], options.cliEnv ?? {}, timeoutMs),
    startTrainer,
    startAugment,
    startEvaluator: async () => (cluster.evaluator = await startEvaluator()),
    stop: async () => {
      for (const service of services) if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill("SIGTERM");
      await Promise.all(services.map((service) => service.exited));
      await nats.stop();
    },
  };
  return cluster;
}

/** Resolves with the first log line matching `match`, waiting for it to be written. */
export async function waitForLog(service: StartedService, match: (line: StartedService["logs"][number]) => boolean, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = service.logs.find(match);
    if (found) return found;
    if (Date.now() > until) throw new Error(`no matching log line within ${timeoutMs} ms; last lines: ${JSON.stringify(service.logs.slice(-5))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
