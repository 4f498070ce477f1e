/** A bad flag, argument or input file: exit code 2 with one readable line. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly exitCode = 2;
}

/**
 * Bad input found below the CLI (a data file, a JSON network, a value the core or the augment
 * library rejects) becomes a UsageError: exit 2 and one line. Anything else passes through.
 */
export function asUsageError(command: string, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  const badInput = code === "INVALID_ARGUMENT" || code === "CORRUPT_DATA" || code === "NOT_FOUND" || code === "ENOENT" || code === "EISDIR" || code === "EACCES";
  return badInput ? new UsageError(`mnistctl ${command}: ${error.message}`) : error;
}
