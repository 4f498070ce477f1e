import type { KV, KvEntry } from "nats";

/** JetStream's answer to a compare-and-set whose revision is no longer the latest. */
const WRONG_LAST_SEQUENCE = 10071;

function isWriteConflict(error: unknown): boolean {
  return (error as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}

/** Compare-and-set attempts an update makes before it gives up (other processes kept writing the entry first). */
const maxAttempts = 20;

/** The updates of each entry in flight in this process, so that they run one after another. */
const queues = new WeakMap<KV, Map<string, Promise<unknown>>>();

/** The entry is being changed by other writers faster than this update can land. */
export class UpdateContendedError extends Error {
  override readonly name = "UpdateContendedError";
  readonly code = "UNAVAILABLE";
}

/**
 * Read, change, compare-and-set on the entry's revision, again from the read when another writer
 * came first: concurrent writers retry instead of overwriting each other. Updates of one entry in
 * this process run one after another (fifty at once would otherwise retry each other's conflicts,
 * for a cost that grows with their square); a conflict with another process is retried after a
 * jittered pause that grows, at most maxAttempts times. `change` returns false to write nothing.
 * Undefined when there is no such entry (or `decode` refuses it); `revision` is the new one when
 * something was written.
 */
export async function updateEntry<T>(
  kv: KV,
  key: string,
  decode: (entry: KvEntry) => T | undefined,
  encode: (value: T) => Uint8Array,
  change: (value: T) => void | false,
  onConflict: () => void = () => undefined,
): Promise<{ value: T; revision?: number } | undefined> {
  let entries = queues.get(kv);
  if (!entries) queues.set(kv, (entries = new Map()));
  const before = entries.get(key) ?? Promise.resolve();
  const update = before.catch(() => undefined).then(() => applyUpdate(kv, key, decode, encode, change, onConflict));
  entries.set(key, update);
  try {
    return await update;
  } finally {
    if (entries.get(key) === update) entries.delete(key);
  }
}

async function applyUpdate<T>(
  kv: KV,
  key: string,
  decode: (entry: KvEntry) => T | undefined,
  encode: (value: T) => Uint8Array,
  change: (value: T) => void | false,
  onConflict: () => void,
): Promise<{ value: T; revision?: number } | undefined> {
  for (let attempt = 1; ; attempt++) {
    const entry = await kv.get(key);
    const value = entry ? decode(entry) : undefined;
    if (!entry || value === undefined) return undefined;
    if (change(value) === false) return { value };
    try {
      return { value, revision: await kv.update(key, encode(value), entry.revision) };
    } catch (error) {
      if (!isWriteConflict(error)) throw error;
      onConflict();
      if (attempt === maxAttempts) throw new UpdateContendedError(`${key}: other writers changed it first ${maxAttempts} times in a row; ask again`);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 5 * 2 ** attempt)));
    }
  }
}
