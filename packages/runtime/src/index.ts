export { accessSpec, checkAccess, grpcClientAccess, grpcServerTls, looksLikeCreds, type AccessConfig } from "./access.js";
export { env, loadConfig, loadConfigOrExit, type ConfigCheck, type EnvSpec, type Variable } from "./config.js";
export { ConfigError } from "./errors.js";
export { createLogger, logLevels, type Logger, type LogLevel } from "./logger.js";
export { connectNats, type NatsOptions } from "./nats.js";
export { commonSpec, runService, type CommonConfig, type RunningService, type ServiceContext, type ServiceOptions } from "./service.js";
export { exitOnSignal } from "./shutdown.js";
export { Rejections, type RejectionsOptions } from "./rejections.js";
export { Counter, createMetrics, Gauge, Histogram, Registry, serveMetrics, type MetricsServer } from "./metrics.js";
