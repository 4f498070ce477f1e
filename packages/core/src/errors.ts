/**
 * Every failure the core reports is a CoreError with a stable `code`, so callers (services, CLI)
 * can map it to a status without parsing messages.
 */
export type CoreErrorCode =
  /** A caller passed something the core cannot use; nothing ran. */
  | "INVALID_ARGUMENT"
  /** A data file, JSON network or checkpoint is malformed or truncated. */
  | "CORRUPT_DATA"
  /** Training or evaluation produced NaN or Infinity (usually: eta too large). */
  | "DIVERGED"
  /** A data file is missing. */
  | "NOT_FOUND";

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

/** Compact rendering of a rejected value for messages: long arrays and strings are cut short. */
export function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as { length?: number }).length ?? value.byteLength})`;
  if (Array.isArray(value)) return value.length > 12 ? `[${value.slice(0, 12).map(show).join(",")},…]` : `[${value.map(show).join(",")}]`;
  if (value === null || value === undefined || typeof value !== "object") return String(value);
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** `field` is `value`; allowed: `allowed`. */
export function invalidArgument(field: string, value: unknown, allowed: string): CoreError {
  return new CoreError("INVALID_ARGUMENT", `${field} is ${show(value)}; allowed: ${allowed}`, field);
}

export function corruptData(source: string, problem: string): CoreError {
  return new CoreError("CORRUPT_DATA", `${source}: ${problem}`, source);
}
