import { readFileSync } from "node:fs";

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
  // The core quotes a bad file's opening bytes, which may hold line breaks: the contract is one line.
  const oneLine = (message: string) => message.replace(/\s*[\r\n]+\s*/g, " ");
  if (error instanceof UsageError) return error.message.includes("\n") ? new UsageError(oneLine(error.message)) : error;
  const code = (error as { code?: unknown }).code;
  const badInput = code === "INVALID_ARGUMENT" || code === "CORRUPT_DATA" || code === "NOT_FOUND" || code === "ENOENT" || code === "EISDIR" || code === "EACCES";
  return badInput ? new UsageError(oneLine(`mnistctl ${command}: ${error.message}`)) : error;
}

/** Reads a text file named by a flag; node's messages for EISDIR and the like leave out the path. */
export function readInputFile(command: string, flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`mnistctl ${command}: --${flag} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
