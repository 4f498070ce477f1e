import { bind, startGrpcHost, ServingStatus, type ServiceBinding } from "@mnist/grpc";
import type { NatsConnection } from "nats";
import { env, loadConfigOrExit, type EnvSpec } from "./config.js";
import { createLogger, logLevels, type Logger } from "./logger.js";
import { connectNats } from "./nats.js";
import { exitOnSignal } from "./shutdown.js";

/** Variables every service reads. */
export interface CommonConfig {
  NATS_URL: string;
  NATS_TOKEN: string | undefined;
  GRPC_HOST: string;
  GRPC_PORT: number;
  LOG_LEVEL: (typeof logLevels)[number];
  SHUTDOWN_GRACE_MS: number;
}

/** The spec of the variables every service reads; exported so deployment tests check manifests against it. */
export function commonSpec(defaultGrpcPort: number): EnvSpec<CommonConfig> {
  return {
    NATS_URL: env.url({ protocols: ["nats:", "tls:"], default: "nats://127.0.0.1:4222" }),
    NATS_TOKEN: env.secret(),
    GRPC_HOST: env.string({ default: "0.0.0.0" }),
    GRPC_PORT: env.port({ default: defaultGrpcPort }),
    LOG_LEVEL: env.oneOf(logLevels, { default: "info" }),
    SHUTDOWN_GRACE_MS: env.integer({ min: 0, max: 600_000, default: 10_000 }),
  };
}

export interface ServiceContext<C> {
  config: C & CommonConfig;
  logger: Logger;
  nats: NatsConnection;
}

export interface RunningService {
  /** gRPC services besides health and reflection. */
  services: readonly ServiceBinding[];
  /** Called once gRPC listens, with the bound port (GRPC_PORT may be 0): announce the service here. */
  listening?(grpc: { address: string; port: number }): Promise<void>;
  /** Finishes or hands back in-flight work; called after gRPC stops accepting calls, before NATS drains. */
  stop?(): Promise<void>;
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
  const config = loadConfigOrExit<C & CommonConfig>({ ...commonSpec(options.defaultGrpcPort), ...options.env } as EnvSpec<C & CommonConfig>);
  const logger = createLogger(options.name, config.LOG_LEVEL);
  const nats = await connectNats({ url: config.NATS_URL, token: config.NATS_TOKEN, name: options.name, logger });
  const running = await options.start({ config, logger, nats });
  const grpc = await startGrpcHost({
    address: `${config.GRPC_HOST}:${config.GRPC_PORT}`,
    services: running.services,
    onInternalError: (error, method) => logger.error({ err: error, method: method.name }, "gRPC handler failed"),
  });
  exitOnSignal(
    logger,
    async () => {
      await grpc.shutdown(config.SHUTDOWN_GRACE_MS / 2);
      await running.stop?.();
      await nats.drain();
    },
    config.SHUTDOWN_GRACE_MS,
  );
  await running.listening?.({ address: grpc.address, port: grpc.port });
  grpc.health.set(ServingStatus.SERVING);
  logger.info({ grpc: grpc.address }, "ready");
}

export { bind };
