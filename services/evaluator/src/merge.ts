/**
 * Yields from several async iterables as their values arrive, until all have ended. End the
 * sources (an abort signal they watch) to stop early: a source's pending `next` is not cancelled.
 */
export async function* merge<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) => pending.set(index, iterators[index]!.next().then((result) => ({ index, result })));
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    // Not awaited: an async generator's return waits behind its pending next.
    for (const iterator of iterators) void iterator.return?.().catch(() => undefined);
  }
}
