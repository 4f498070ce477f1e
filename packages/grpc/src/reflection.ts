import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { status, type Server, type ServerDuplexStream, type ServiceDefinition, type UntypedHandleCall, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { UndecodableRequest } from "./descriptors.js";

function withDependencies(files: readonly DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    for (const dependency of file.dependencies) visit(dependency);
    seen.set(file.name, file);
  };
  files.forEach(visit);
  return [...seen.values()];
}

/**
 * Reflection's service as @grpc/reflection defines it, but refusing undecodable requests with
 * INVALID_ARGUMENT: grpc-js answers INTERNAL for a request its deserializer throws on, so the
 * deserializer hands over a marker instead (as grpcServiceDefinition's do), and each handler's
 * stream answers the marker before reflection's own listener sees it.
 */
function refusingUndecodable(definition: ServiceDefinition, impl: UntypedServiceImplementation): [ServiceDefinition, UntypedServiceImplementation] {
  const lenient: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    lenient[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return new UndecodableRequest(`the request of ${method.path}`, bytes.length, error instanceof Error ? error.message : String(error));
        }
      },
    };
  }
  const guarded: UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    guarded[name] = ((stream: ServerDuplexStream<unknown, unknown>) => {
      const on = stream.on.bind(stream);
      stream.on = ((event: string, listener: (...args: unknown[]) => void) =>
        on(event, event !== "data" ? listener : (request: unknown) => {
          // An error event ends a grpc-js server stream with its status (see handlers.ts).
          if (request instanceof UndecodableRequest) stream.emit("error", Object.assign(new Error(request.message), { code: status.INVALID_ARGUMENT, details: request.message }));
          else listener(request);
        })) as typeof stream.on;
      (handler as (stream: ServerDuplexStream<unknown, unknown>) => void)(stream);
    }) as UntypedHandleCall;
  }
  return [lenient, guarded];
}

/**
 * Serves gRPC server reflection (v1 and v1alpha) for the given protobuf-es files and their imports,
 * so grpcurl works, listing only `services` (their full names): the ones this server answers.
 */
export function addReflection(server: Server, files: readonly DescFile[], services: readonly string[]): void {
  const set = create(FileDescriptorSetSchema, { file: withDependencies(files).map((file) => file.proto) });
  const packageDefinition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  // ReflectionService adds its services itself: its addService calls go through the guard above.
  const addService = server.addService.bind(server);
  server.addService = (definition, impl) => addService(...refusingUndecodable(definition, impl));
  try {
    new ReflectionService(packageDefinition, { services: [...services] }).addToServer(server);
  } finally {
    Reflect.deleteProperty(server, "addService");
  }
}
