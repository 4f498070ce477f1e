import type { KV, KvEntry } from "nats";

/**
 * A key's entries (">" for every key) in a JetStream KV bucket: the latest of each first (then
 * `onInitialized`), then every change, until `signal` aborts. A watch the server drops (NATS restarting: TIMEOUT) is
 * opened again after `retryMs`, starting again with the latest entries, so a consumer sees every
 * state, some twice.
 */
export async function* watchKv(
  kv: KV,
  key: string,
  signal: AbortSignal,
  options: { onWatchError: (error: unknown) => void; onInitialized?: () => void; retryMs?: number },
): AsyncGenerator<KvEntry> {
  while (!signal.aborted) {
    let watcher: Awaited<ReturnType<KV["watch"]>> | undefined;
    const stop = () => watcher?.stop();
    signal.addEventListener("abort", stop, { once: true });
    try {
      watcher = await kv.watch({ key, initializedFn: options.onInitialized });
      yield* watcher;
    } catch (error) {
      if (signal.aborted) return;
      options.onWatchError(error);
    } finally {
      signal.removeEventListener("abort", stop);
      watcher?.stop();
    }
    if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 250));
  }
}
