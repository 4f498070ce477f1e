import type { ErrorCode } from "@mnist/errors";

/**
 * A failure of the core's data (a file missing, bytes malformed, training that diverged), with a
 * stable `code` callers map without parsing messages. A bad argument is an InvalidArgument
 * (`@mnist/errors`), as everywhere else.
 */
export type CoreErrorCode = Exclude<ErrorCode, "INVALID_ARGUMENT">;

export class CoreError extends Error {
  override readonly name = "CoreError";
  constructor(
    readonly code: CoreErrorCode,
    message: string,
    /** The offending field or file, when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

export function corruptData(source: string, problem: string): CoreError {
  return new CoreError("CORRUPT_DATA", `${source}: ${problem}`, source);
}
