import { status } from "@grpc/grpc-js";

/** An error a handler throws to answer with a specific gRPC status; any other error becomes INTERNAL. */
export class GrpcStatusError extends Error {
  override readonly name = "GrpcStatusError";
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** INVALID_ARGUMENT naming the field, the value and what is allowed. */
export function invalidArgument(field: string, value: unknown, allowed: string): GrpcStatusError {
  return new GrpcStatusError(status.INVALID_ARGUMENT, `${field}: ${formatValue(value)} is not allowed; ${allowed}`);
}

export function notFound(what: string, id: string): GrpcStatusError {
  return new GrpcStatusError(status.NOT_FOUND, `${what} ${JSON.stringify(id)} not found`);
}

export function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(formatValue).join(",")}]`;
  return String(value);
}

export { status };
