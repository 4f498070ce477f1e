import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { Server } from "@grpc/grpc-js";

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

/** Serves gRPC server reflection (v1 and v1alpha) for the given protobuf-es files and their imports, so grpcurl works. */
export function addReflection(server: Server, files: readonly DescFile[]): void {
  const set = create(FileDescriptorSetSchema, { file: withDependencies(files).map((file) => file.proto) });
  const packageDefinition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  new ReflectionService(packageDefinition).addToServer(server);
}
