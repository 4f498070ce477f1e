import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type {
  handleServerStreamingCall,
  handleUnaryCall,
  ServerUnaryCall,
  ServerWritableStream,
  sendUnaryData,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { Metadata, status } from "@grpc/grpc-js";
import { UndecodableRequest, type MethodInput, type MethodOutputInit, type ServiceMethods } from "./descriptors.js";
import { clipDetails, GrpcStatusError, statusOf } from "./errors.js";

export interface CallContext {
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  readonly metadata: Metadata;
  readonly peer: string;
}

/**
 * The context of a call that comes in by another door than gRPC (the evaluator's dashboard calls
 * RunService's handlers directly): `headers` become its metadata, `peer` says where it came from.
 */
export function localCallContext(peer: string, headers: Record<string, string>, signal: AbortSignal): CallContext {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return { signal, metadata, peer };
}

type UnaryHandler<M extends Pick<DescMethod, "input" | "output">> = (
  request: MethodInput<M>,
  context: CallContext,
) => Promise<MethodOutputInit<M>> | MethodOutputInit<M>;

type ServerStreamingHandler<M extends Pick<DescMethod, "input" | "output">> = (
  request: MethodInput<M>,
  context: CallContext,
) => AsyncIterable<MethodOutputInit<M>>;

type Handler<M extends Pick<DescMethod, "input" | "output" | "methodKind">> = M["methodKind"] extends "unary"
  ? UnaryHandler<M>
  : M["methodKind"] extends "server_streaming"
    ? ServerStreamingHandler<M>
    : never;

/** Handlers for a service's unary and server-streaming methods; absent ones answer UNIMPLEMENTED. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof ServiceMethods<S>]?: Handler<ServiceMethods<S>[K]>;
};

/** Called with every error that has no status of its own (see statusOf), before the client sees INTERNAL. */
export type InternalErrorHook = (error: unknown, method: DescMethod) => void;

/** Called with every call's metadata and peer before its handler; throws a GrpcStatusError (UNAUTHENTICATED) to refuse the call. */
export type Authorize = (metadata: Metadata, peer: string) => void;

const allowAll: Authorize = () => undefined;

function toStatus(error: unknown, method: DescMethod, onInternalError: InternalErrorHook) {
  const known = statusOf(error);
  if (known) return { code: known.code, details: clipDetails(known.details) };
  onInternalError(error, method);
  return { code: status.INTERNAL, details: clipDetails(`${method.name} failed: ${error instanceof Error ? error.message : String(error)}`) };
}

/** The decoded request, after the caller is authorized; a body that did not decode is the caller's fault. */
function requestOf(request: unknown): never {
  if (request instanceof UndecodableRequest) throw new GrpcStatusError(status.INVALID_ARGUMENT, request.message);
  return request as never;
}

function contextOf(call: ServerUnaryCall<object, unknown> | ServerWritableStream<object, unknown>): CallContext {
  const controller = new AbortController();
  call.once("cancelled", () => controller.abort());
  return { signal: controller.signal, metadata: call.metadata, peer: call.getPeer() };
}

function unary(method: DescMethod, handler: UnaryHandler<never>, onInternalError: InternalErrorHook, authorize: Authorize): handleUnaryCall<object, unknown> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => {
        authorize(call.metadata, call.getPeer());
        return handler(requestOf(call.request), contextOf(call));
      })
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toStatus(error, method, onInternalError)),
      );
  };
}

function serverStreaming(
  method: DescMethod,
  handler: ServerStreamingHandler<never>,
  onInternalError: InternalErrorHook,
  authorize: Authorize,
): handleServerStreamingCall<object, unknown> {
  return (call) => {
    const context = contextOf(call);
    void (async () => {
      try {
        authorize(call.metadata, call.getPeer());
        for await (const response of handler(requestOf(call.request), context)) {
          if (context.signal.aborted) return;
          if (!call.write(response)) await new Promise((resolve) => call.once("drain", resolve));
        }
        call.end();
      } catch (error) {
        // emit, not destroy: grpc-js sends the status from its error handler; a destroyed stream never sends one.
        if (!context.signal.aborted) call.emit("error", Object.assign(new Error(), toStatus(error, method, onInternalError)));
      }
    })();
  };
}

function unimplemented(method: DescMethod): UntypedHandleCall {
  const details = `${method.parent.typeName}/${method.name} is not implemented yet`;
  if (method.methodKind === "server_streaming") {
    return (call: ServerWritableStream<unknown, unknown>) => call.emit("error", Object.assign(new Error(details), { code: status.UNIMPLEMENTED, details }));
  }
  return (_call: unknown, callback: sendUnaryData<unknown>) => callback({ code: status.UNIMPLEMENTED, details });
}

/** grpc-js handlers for a protobuf-es service from typed async functions; `authorize` vets every implemented call first. */
export function serviceHandlers<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  onInternalError: InternalErrorHook,
  authorize: Authorize = allowAll,
): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  const byName = impl as Record<string, UnaryHandler<never> | ServerStreamingHandler<never> | undefined>;
  for (const method of service.methods) {
    const handler = byName[method.localName];
    if (!handler) handlers[method.localName] = unimplemented(method);
    else if (method.methodKind === "unary") handlers[method.localName] = unary(method, handler as UnaryHandler<never>, onInternalError, authorize);
    else if (method.methodKind === "server_streaming")
      handlers[method.localName] = serverStreaming(method, handler as ServerStreamingHandler<never>, onInternalError, authorize);
    else throw new Error(`${method.parent.typeName}/${method.name}: ${method.methodKind} methods are not supported by this adapter`);
  }
  return handlers;
}
