/** NATS error codes that mean "not now": a server restarting, a connection being re-established. */
const transientCodes = new Set(["TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_DRAINING", "CONNECTION_REFUSED", "DISCONNECT", "503"]);

export function isTransientNatsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && transientCodes.has(code);
}

/**
 * Runs `operation` until it succeeds, again after each transient NATS error (backing off from
 * 250 ms to 2 s), until `signal` aborts. Any other error is thrown at once.
 */
export async function retryWhileTransient<T>(operation: () => Promise<T>, signal: AbortSignal, onRetry: (error: unknown, attempt: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (signal.aborted || !isTransientNatsError(error)) throw error;
      onRetry(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 250 * 2 ** (attempt - 1))));
    }
  }
}
