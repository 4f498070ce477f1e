/**
 * Codes every layer says what went wrong with: gRPC's own names where one fits, and the domain's.
 * The services map a code to a gRPC status (`@mnist/grpc` statusOf), the CLI to its exit code 2
 * (bad input) — one mapping each, by code, whatever the error's class.
 */
export type ErrorCode =
  /** A caller passed something that is not allowed; nothing ran. */
  | "INVALID_ARGUMENT"
  /** A file or object that is missing. */
  | "NOT_FOUND"
  /** A data file, network or checkpoint that is malformed or truncated: the stored bytes are bad. */
  | "CORRUPT_DATA"
  /** Training or evaluation produced NaN or Infinity (usually: eta too large). */
  | "DIVERGED";

/** Longest string, and most array items, a message quotes: a value is echoed, never a request's megabytes. */
const quotedChars = 64;
const quotedItems = 12;

/** A value as messages quote it: strings JSON-quoted, long strings and arrays cut short with their length, bytes by their length. */
export function formatValue(value: unknown): string {
  if (typeof value === "string") {
    // Format characters escaped too: a bidirectional override in a quoted value would reorder the message around it.
    const quoted = (text: string) => JSON.stringify(text).replace(/[\p{Cf}\uFFFD]/gu, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
    return value.length > quotedChars ? `${quoted(value.slice(0, quotedChars))}… (${value.length} characters)` : quoted(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as { length?: number }).length ?? value.byteLength})`;
  if (Array.isArray(value)) {
    const shown = value.slice(0, quotedItems).map(formatValue).join(",");
    return value.length > quotedItems ? `[${shown},…] (${value.length} items)` : `[${shown}]`;
  }
  if (value === null || value === undefined || typeof value !== "object") return String(value);
  try {
    const text = JSON.stringify(value, (_, inner: unknown) => (typeof inner === "bigint" ? inner.toString() : inner));
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * A value outside what is allowed, wherever it was found — a flag, a run spec, a slice request, a
 * native call's argument: names the field, the value and what is allowed, in one format.
 */
export class InvalidArgument extends Error {
  override readonly name = "InvalidArgument";
  readonly code = "INVALID_ARGUMENT" satisfies ErrorCode;
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`${field} is ${formatValue(value)}; allowed: ${allowed}`);
  }

  /** The same error with its field named from an enclosing message (`spec.` + `eta`). */
  within(prefix: string): InvalidArgument {
    return new InvalidArgument(`${prefix}${this.field}`, this.value, this.allowed);
  }
}

/** `field` is `value`; allowed: `allowed`. */
export function invalidArgument(field: string, value: unknown, allowed: string): InvalidArgument {
  return new InvalidArgument(field, value, allowed);
}
