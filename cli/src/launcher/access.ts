import type { ClientAccess } from "@mnist/grpc";
import { accessSpec, checkAccess, ConfigError, grpcClientAccess, loadConfig } from "@mnist/runtime";
import { UsageError } from "../errors.js";

/**
 * How the launcher reaches the services it starts: they inherit its AUTH_TOKEN and GRPC_TLS_*,
 * and it dials them as they dial each other (the token; TLS trusting GRPC_TLS_CA, else the
 * self-signed GRPC_TLS_CERT; its certificate presented for mutual TLS). A bad variable stops
 * the launch before anything starts, named as the services would name it.
 */
export function launcherAccess(command: string, source: NodeJS.ProcessEnv = process.env): ClientAccess {
  try {
    return grpcClientAccess(loadConfig(accessSpec, source, checkAccess));
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`mnistctl ${command}: ${error.message}`);
    throw error;
  }
}
