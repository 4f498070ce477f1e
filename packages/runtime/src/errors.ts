/** A bad or missing environment variable, named with its value and what is allowed. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "INVALID_CONFIG";
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    readonly allowed: string,
  ) {
    super(`${variable}=${value === undefined ? "(unset)" : JSON.stringify(value)} is invalid: ${allowed}`);
  }
}
