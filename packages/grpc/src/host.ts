import type { DescService } from "@bufbuild/protobuf";
import { Server } from "@grpc/grpc-js";
import { Health, protocolFiles } from "@mnist/protocol";
import { bearerTokenCheck, serverCredentials, type ServerTls, type TokenCheckOptions } from "./access.js";
import { grpcServiceDefinition } from "./descriptors.js";
import { serviceHandlers, type InternalErrorHook, type ServiceImpl } from "./handlers.js";
import { HealthStatus, ServingStatus } from "./health.js";
import { addReflection } from "./reflection.js";

export interface ServiceBinding<S extends DescService = DescService> {
  service: S;
  impl: ServiceImpl<S>;
}

/** Pairs a service with its handlers, checking the handlers' types against the descriptor. */
export function bind<S extends DescService>(service: S, impl: ServiceImpl<S>): ServiceBinding {
  return { service, impl } as unknown as ServiceBinding;
}

export interface GrpcHostOptions {
  /** host:port to listen on; port 0 picks a free one. */
  address: string;
  services: readonly ServiceBinding[];
  onInternalError: InternalErrorHook;
  /** Serve TLS (mutual TLS when it has a CA) instead of plaintext. */
  tls?: ServerTls;
  /** Every call of `services` (not health, not reflection) must carry `authorization: Bearer <token>`. */
  token?: string;
  /** How refused tokens are counted and reported (with `token`). */
  tokenCheck?: TokenCheckOptions;
}

export interface GrpcHost {
  readonly server: Server;
  readonly health: HealthStatus;
  /** The bound address with the real port, e.g. "127.0.0.1:50051". */
  readonly address: string;
  readonly port: number;
  /** Refuses new calls, lets in-flight ones finish for up to graceMs, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
}

/** A gRPC server with the given services plus health and reflection, listening before it returns. Health starts NOT_SERVING. */
export async function startGrpcHost(options: GrpcHostOptions): Promise<GrpcHost> {
  const server = new Server();
  const health = new HealthStatus(options.services.map(({ service }) => service.typeName));
  const authorize = options.token === undefined ? undefined : bearerTokenCheck(options.token, options.tokenCheck);
  for (const { service, impl } of options.services) {
    server.addService(grpcServiceDefinition(service), serviceHandlers(service, impl, options.onInternalError, authorize));
  }
  // Health stays open for probes, as reflection does.
  server.addService(grpcServiceDefinition(Health), serviceHandlers(Health, health.impl(), options.onInternalError));
  const served = [...options.services.map(({ service }) => service.typeName), Health.typeName];
  addReflection(server, protocolFiles, [...served, "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.address, serverCredentials(options.tls), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const host = options.address.slice(0, options.address.lastIndexOf(":"));
  return {
    server,
    health,
    port,
    address: `${host}:${port}`,
    async shutdown(graceMs) {
      health.set(ServingStatus.NOT_SERVING);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
