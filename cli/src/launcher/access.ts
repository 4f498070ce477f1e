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

/**
 * What a client in another terminal needs besides MNISTCTL_SERVER to reach services started with
 * this environment, as `export` lines: paths, and where the token is, never the token itself.
 */
export function clientAccessHints(source: NodeJS.ProcessEnv = process.env): string[] {
  const set = (name: string) => (source[name] ?? "") !== "";
  const lines: string[] = [];
  if (set("AUTH_TOKEN_FILE")) lines.push(`export MNISTCTL_TOKEN=$(cat ${source.AUTH_TOKEN_FILE})`);
  else if (set("AUTH_TOKEN")) lines.push("export MNISTCTL_TOKEN=…        (the AUTH_TOKEN the services were started with)");
  if (set("GRPC_TLS_CERT")) lines.push(`export MNISTCTL_CA=${set("GRPC_TLS_CA") ? source.GRPC_TLS_CA : source.GRPC_TLS_CERT}`);
  if (set("GRPC_TLS_CA")) lines.push(`export MNISTCTL_CERT=${source.GRPC_TLS_CERT} MNISTCTL_KEY=${source.GRPC_TLS_KEY}`);
  return lines;
}
