import { status } from "@grpc/grpc-js";
import { formatValue } from "@mnist/errors";

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

export function notFound(what: string, id: string): GrpcStatusError {
  return new GrpcStatusError(status.NOT_FOUND, `${what} ${formatValue(id)} not found`);
}

/**
 * The one mapping from what is wrong to a gRPC status. Errors carry a `code` (`@mnist/errors`):
 * gRPC's own names (INVALID_ARGUMENT — every InvalidArgument —, NOT_FOUND, …) answer with that
 * status; these domain codes with the closest one.
 */
const domainCodes: Readonly<Record<string, status>> = {
  // A data file, network or checkpoint that is malformed: the stored bytes are bad.
  CORRUPT_DATA: status.DATA_LOSS,
  // Training produced NaN or Infinity: the run's settings, not the call, are at fault.
  DIVERGED: status.FAILED_PRECONDITION,
  // NATS did not answer in time (a server restarting, a connection being re-established): ask again.
  TIMEOUT: status.UNAVAILABLE,
  CONNECTION_CLOSED: status.UNAVAILABLE,
  CONNECTION_DRAINING: status.UNAVAILABLE,
  "503": status.UNAVAILABLE,
};

/** The status a handler's error answers with, or undefined for an unexpected error (INTERNAL). */
export function statusOf(error: unknown): { code: status; details: string } | undefined {
  if (error instanceof GrpcStatusError) return { code: error.code, details: error.message };
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return undefined;
  const mapped = domainCodes[code] ?? (status as unknown as Record<string, status | undefined>)[code];
  if (mapped === undefined || mapped === status.OK || mapped === status.INTERNAL || mapped === status.UNKNOWN) return undefined;
  return { code: mapped, details: error.message };
}

/** Statuses that asking again cannot change: the request or its data is at fault. */
export function isPermanent(code: status): boolean {
  return [status.INVALID_ARGUMENT, status.FAILED_PRECONDITION, status.DATA_LOSS, status.OUT_OF_RANGE, status.UNIMPLEMENTED, status.NOT_FOUND].includes(code);
}

/**
 * Status details travel percent-encoded in HTTP/2 trailers, which a client refuses past its header
 * list limit (Node's default is 64 KB): the status never arrives, and the call (and the others on
 * its connection) hang until their deadlines. Messages from libraries that quote whole values, a
 * 300,000-entry `sizes` say, are cut to this many characters.
 */
export const maxDetailsChars = 2_000;

/** A surrogate without its pair: grpc-js percent-encodes details with encodeURI, which throws on one. */
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Details as a trailer can carry them: at most maxDetailsChars characters, well-formed UTF-16. */
export function clipDetails(details: string): string {
  const clipped = details.length > maxDetailsChars ? `${details.slice(0, maxDetailsChars)}… (${details.length} characters in all)` : details;
  return clipped.replace(loneSurrogate, "\ufffd");
}

export { status };
