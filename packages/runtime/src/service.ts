import { bind, FailedSignIns, hostOfPeer, startGrpcHost, ServingStatus, type ClientAccess, type ServiceBinding } from "@mnist/grpc";
import type { NatsConnection } from "nats";
import { accessSpec, checkAccess, grpcClientAccess, grpcServerTls, type AccessConfig } from "./access.js";
import { env, loadConfigOrExit, type EnvSpec } from "./config.js";
import { createLogger, logLevels, type Logger } from "./logger.js";
import { createMetrics, serveMetrics, type Registry } from "./metrics.js";
import { connectNats } from "./nats.js";
import { Rejections } from "./rejections.js";
import { exitOnSignal } from "./shutdown.js";

/** Variables every service reads. */
export interface CommonConfig extends AccessConfig {
  NATS_URL: string;
  GRPC_HOST: string;
  GRPC_PORT: number;
  LOG_LEVEL: (typeof logLevels)[number];
  SHUTDOWN_GRACE_MS: number;
  /** Prometheus metrics at GET /metrics on this port (on GRPC_HOST); unset: not served. */
  METRICS_PORT: number | undefined;
}

/** The spec of the variables every service reads; exported so deployment tests check manifests against it. */
export function commonSpec(defaultGrpcPort: number): EnvSpec<CommonConfig> {
  return {
    NATS_URL: env.url({ protocols: ["nats:", "tls:"], default: "nats://127.0.0.1:4222" }),
    ...accessSpec,
    GRPC_HOST: env.string({ default: "0.0.0.0" }),
    GRPC_PORT: env.port({ default: defaultGrpcPort }),
    LOG_LEVEL: env.oneOf(logLevels, { default: "info" }),
    SHUTDOWN_GRACE_MS: env.integer({ min: 0, max: 600_000, default: 10_000 }),
    METRICS_PORT: env.optionalPort(),
  };
}

export interface ServiceContext<C> {
  config: C & CommonConfig;
  logger: Logger;
  nats: NatsConnection;
  /** How to dial the other services (TLS and bearer token as this one serves them). */
  grpcAccess: ClientAccess;
  /** The service's Prometheus registry (served when METRICS_PORT is set): register its metrics here. */
  metrics: Registry;
  /** What the service refuses from outside, counted and logged within a budget (refused tokens among them). */
  rejections: Rejections;
  /** Failed sign-ins by address, for every door a token comes in by (gRPC, the evaluator's dashboard). */
  signIns: FailedSignIns;
}

export interface RunningService {
  /** gRPC services besides health and reflection. */
  services: readonly ServiceBinding[];
  /** Called once gRPC listens, with the bound port (GRPC_PORT may be 0): announce the service here. */
  listening?(grpc: { address: string; port: number }): Promise<void>;
  /** Finishes or hands back in-flight work; called after gRPC stops accepting calls, before NATS drains. */
  stop?(): Promise<void>;
  /** More of the `ready` line (the evaluator's dashboard address). */
  ready?: Record<string, unknown>;
}

export interface ServiceOptions<C> {
  name: string;
  defaultGrpcPort: number;
  env: EnvSpec<C>;
  start(context: ServiceContext<C>): Promise<RunningService>;
}

/**
 * The life of every service: validated config, logger, NATS, gRPC with health and
 * reflection, a `ready` line, and a graceful stop on SIGTERM/SIGINT.
 */
export async function runService<C>(options: ServiceOptions<C>): Promise<void> {
  const config = loadConfigOrExit<C & CommonConfig>({ ...commonSpec(options.defaultGrpcPort), ...options.env } as EnvSpec<C & CommonConfig>, process.env, checkAccess);
  const logger = createLogger(options.name, config.LOG_LEVEL);
  const nats = await connectNats({
    url: config.NATS_URL,
    token: config.NATS_TOKEN,
    user: config.NATS_USER,
    password: config.NATS_PASSWORD,
    credsFile: config.NATS_CREDS,
    caFile: config.NATS_CA,
    name: options.name,
    logger,
  }).catch((error: unknown) => {
    // Refused credentials or TLS are not retried: one line saying so (the server's words, never a secret), exit 1.
    const code = (error as { code?: unknown }).code;
    logger.fatal({ nats: config.NATS_URL, code, reason: error instanceof Error ? error.message : String(error) }, "could not connect to NATS");
    process.exit(1);
  });
  const metrics = createMetrics(options.name);
  const rejections = new Rejections(logger).start();
  const signIns = new FailedSignIns();
  const running = await options.start({ config, logger, nats, grpcAccess: grpcClientAccess(config), metrics, rejections, signIns });
  const tls = grpcServerTls(config);
  const grpc = await startGrpcHost({
    address: `${config.GRPC_HOST}:${config.GRPC_PORT}`,
    tls,
    token: config.AUTH_TOKEN,
    // The address only: never what was presented.
    tokenCheck: { signIns, onRefused: (peer, reason) => rejections.reject("grpc-auth", reason, { address: hostOfPeer(peer) }) },
    services: running.services,
    onInternalError: (error, method) => logger.error({ err: error, method: method.name }, "gRPC handler failed"),
  });
  const metricsServer = config.METRICS_PORT === undefined ? undefined : await serveMetrics(metrics, config.GRPC_HOST, config.METRICS_PORT, logger);
  exitOnSignal(
    logger,
    async () => {
      await grpc.shutdown(config.SHUTDOWN_GRACE_MS / 2);
      await running.stop?.();
      await nats.drain();
      await metricsServer?.close();
      rejections.stop();
    },
    config.SHUTDOWN_GRACE_MS,
  );
  await running.listening?.({ address: grpc.address, port: grpc.port });
  grpc.health.set(ServingStatus.SERVING);
  const ready = { grpc: grpc.address, tls: tls === undefined ? "off" : tls.ca ? "mutual" : "on", auth: config.AUTH_TOKEN === undefined ? "off" : "bearer token" };
  logger.info({ ...ready, metrics: metricsServer ? `${config.GRPC_HOST}:${metricsServer.port}` : "off", ...running.ready }, "ready");
}

export { bind };
