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

/** A grpc-js service definition whose (de)serialisers are protobuf-es, derived from the descriptor alone. */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input) as (value: unknown) => Buffer,
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output) as (value: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
  }
  return definition as ServiceDefinition;
}
