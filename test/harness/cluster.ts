import { startNatsServer, type NatsServer } from "./nats-server.js";
import { runNode, startService, type StartedService } from "./services.js";

export interface Cluster {
  nats: NatsServer;
  augment: StartedService;
  trainers: StartedService[];
  evaluator: StartedService;
  /** The evaluator's gRPC address, for --server. */
  readonly server: string;
  /** mnistctl against this cluster. */
  cli(args: string[], timeoutMs?: number): ReturnType<typeof runNode>;
  startTrainer(env?: Record<string, string>): Promise<StartedService>;
  startEvaluator(): Promise<StartedService>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  trainers?: number;
  trainerEnv?: Record<string, string>;
  evaluatorEnv?: Record<string, string>;
}

/**
 * A whole cluster of real processes on a private nats-server: one augment replica, trainers,
 * one evaluator. Private, so runs and trainers of parallel test files never meet.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const nats = await startNatsServer();
  const base = { NATS_URL: nats.url };
  const services: StartedService[] = [];
  const track = (service: StartedService) => (services.push(service), service);
  const evaluatorEnv = { ...base, EVALUATOR_PLACEMENT_INTERVAL_MS: "200", EVALUATOR_REDELIVER_MS: "1000", ...options.evaluatorEnv };
  const startTrainer = async (env: Record<string, string> = {}) => track(await startService("trainer", { ...base, ...options.trainerEnv, ...env }));
  const startEvaluator = async () => track(await startService("evaluator", evaluatorEnv));
  const augment = track(await startService("augment", base));
  const trainers: StartedService[] = [];
  for (let i = 0; i < (options.trainers ?? 1); i++) trainers.push(await startTrainer());
  const cluster: Cluster = {
    nats,
    augment,
    trainers,
    evaluator: await startEvaluator(),
    get server() {
      return this.evaluator.address;
    },
    cli: (args, timeoutMs = 120_000) => runNode("cli/dist/main.js", [...args, "--server", cluster.server], {}, timeoutMs),
    startTrainer,
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
