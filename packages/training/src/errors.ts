/** A run-spec field outside what is allowed; the message names the field, the value and what is allowed. */
export class SpecError extends Error {
  override readonly name = "SpecError";
  readonly code = "INVALID_ARGUMENT";
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`${field}: ${formatValue(value)} is not allowed; ${allowed}`);
  }
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.join(",")}]`;
  return String(value);
}
