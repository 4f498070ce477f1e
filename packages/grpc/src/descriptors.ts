import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** The method shapes a generated service descriptor carries. */
export type ServiceMethods<S extends DescService> = S extends GenService<infer M extends GenServiceMethods> ? M : never;

export type MethodInput<M extends Pick<DescMethod, "input">> = MessageShape<M["input"]>;
export type MethodInputInit<M extends Pick<DescMethod, "input">> = MessageInitShape<M["input"]>;
export type MethodOutput<M extends Pick<DescMethod, "output">> = MessageShape<M["output"]>;
export type MethodOutputInit<M extends Pick<DescMethod, "output">> = MessageInitShape<M["output"]>;

export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function serializer(schema: DescMessage) {
  return (message: MessageInitShape<DescMessage>): Buffer =>
    Buffer.from(toBinary(schema, create(schema, message as never)));
}

function deserializer(schema: DescMessage) {
  return (bytes: Buffer): MessageShape<DescMessage> => fromBinary(schema, bytes);
}

/**
 * A request body that is not an encoding of the method's input message. grpc-js answers INTERNAL
 * for a request deserializer that throws, so the server's deserializer returns this instead and
 * the handler answers INVALID_ARGUMENT (see handlers.ts): the client, not the server, is at fault.
 */
export class UndecodableRequest {
  constructor(
    /** What the bytes should have been: a message type name, such as mnist.v1.GetRunRequest. */
    readonly expected: string,
    readonly bytes: number,
    readonly problem: string,
  ) {}

  get message(): string {
    return `request: ${this.bytes} bytes that do not decode as ${this.expected} (${this.problem})`;
  }
}

function requestDeserializer(schema: DescMessage) {
  return (bytes: Buffer): MessageShape<DescMessage> | UndecodableRequest => {
    try {
      return fromBinary(schema, bytes);
    } catch (error) {
      return new UndecodableRequest(schema.typeName, bytes.length, error instanceof Error ? error.message : String(error));
    }
  };
}

/** A grpc-js service definition whose (de)serialisers are protobuf-es, derived from the descriptor alone. */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input) as (value: unknown) => Buffer,
      requestDeserialize: requestDeserializer(method.input),
      responseSerialize: serializer(method.output) as (value: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
  }
  return definition as ServiceDefinition;
}
