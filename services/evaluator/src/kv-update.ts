import type { KV, KvEntry } from "nats";

/** JetStream's answer to a compare-and-set whose revision is no longer the latest. */
const WRONG_LAST_SEQUENCE = 10071;

function isWriteConflict(error: unknown): boolean {
  return (error as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}

/**
 * Read, change, compare-and-set on the entry's revision, again from the read when another writer
 * came first: concurrent writers retry instead of overwriting each other. `change` returns false
 * to write nothing. Undefined when there is no such entry (or `decode` refuses it); `revision` is
 * the new one when something was written.
 */
export async function updateEntry<T>(
  kv: KV,
  key: string,
  decode: (entry: KvEntry) => T | undefined,
  encode: (value: T) => Uint8Array,
  change: (value: T) => void | false,
): Promise<{ value: T; revision?: number } | undefined> {
  for (;;) {
    const entry = await kv.get(key);
    const value = entry ? decode(entry) : undefined;
    if (!entry || value === undefined) return undefined;
    if (change(value) === false) return { value };
    try {
      return { value, revision: await kv.update(key, encode(value), entry.revision) };
    } catch (error) {
      if (!isWriteConflict(error)) throw error;
    }
  }
}
