import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Client as GrpcClient, Metadata, type ServiceError } from "@grpc/grpc-js";
import { channelCredentials, type ClientAccess } from "./access.js";
import type { MethodInputInit, MethodOutput, ServiceMethods } from "./descriptors.js";
import { grpcServiceDefinition } from "./descriptors.js";
import { GrpcStatusError } from "./errors.js";

export interface CallOptions {
  /** Milliseconds from now until the call fails with DEADLINE_EXCEEDED. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

type ClientMethod<M extends Pick<DescMethod, "input" | "output" | "methodKind">> = M["methodKind"] extends "unary"
  ? (request: MethodInputInit<M>, options?: CallOptions) => Promise<MethodOutput<M>>
  : M["methodKind"] extends "server_streaming"
    ? (request: MethodInputInit<M>, options?: CallOptions) => AsyncIterable<MethodOutput<M>>
    : never;

export type Client<S extends DescService> = {
  [K in keyof ServiceMethods<S>]: ClientMethod<ServiceMethods<S>[K]>;
} & { close(): void };

function asStatusError(error: ServiceError): GrpcStatusError {
  return new GrpcStatusError(error.code, error.details || error.message);
}

function deadlineOf(options?: CallOptions): { deadline?: Date } {
  return options?.timeoutMs === undefined ? {} : { deadline: new Date(Date.now() + options.timeoutMs) };
}

/**
 * A typed client for a protobuf-es service at a gRPC address such as "127.0.0.1:50051":
 * plaintext unless `access.tls`, with `authorization: Bearer <token>` on every call when `access.token`.
 */
export function createClient<S extends DescService>(service: S, address: string, access: ClientAccess = {}): Client<S> {
  const definition = grpcServiceDefinition(service);
  const channel = new GrpcClient(address, channelCredentials(access.tls));
  const metadata = () => {
    const entries = new Metadata();
    for (const [key, value] of Object.entries(access.headers ?? {})) entries.set(key, value);
    if (access.token !== undefined) entries.set("authorization", `Bearer ${access.token}`);
    return entries;
  };
  const client: Record<string, unknown> = { close: () => channel.close() };
  for (const method of service.methods) {
    const { path, requestSerialize, responseDeserialize } = definition[method.localName];
    if (method.methodKind === "unary") {
      client[method.localName] = (request: unknown, options?: CallOptions) =>
        new Promise((resolve, reject) => {
          const call = channel.makeUnaryRequest(path, requestSerialize, responseDeserialize, request ?? {}, metadata(), deadlineOf(options), (error, response) =>
            error ? reject(asStatusError(error)) : resolve(response),
          );
          options?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        });
    } else if (method.methodKind === "server_streaming") {
      client[method.localName] = (request: unknown, options?: CallOptions) =>
        (async function* () {
          const call = channel.makeServerStreamRequest(path, requestSerialize, responseDeserialize, request ?? {}, metadata(), deadlineOf(options));
          options?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
          try {
            for await (const response of call) yield response;
          } catch (error) {
            throw (error as ServiceError).code !== undefined ? asStatusError(error as ServiceError) : error;
          } finally {
            call.cancel();
          }
        })();
    }
  }
  return client as Client<S>;
}
