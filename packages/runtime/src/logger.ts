import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const satisfies readonly LevelWithSilent[];
export type LogLevel = (typeof logLevels)[number];

/** Keys whose values are replaced in every log line, wherever they appear. */
const secretPaths = ["token", "password", "secret", "*.token", "*.password", "*.secret", "config.natsToken", "authorization", "*.authorization", "pass", "*.pass"];

/** The one logger factory: pino JSON on stdout with a `service` field on every line. */
export function createLogger(service: string, level: LogLevel = "info"): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: secretPaths, censor: "[redacted]" },
    formatters: { level: (label) => ({ level: label }) },
  });
}
