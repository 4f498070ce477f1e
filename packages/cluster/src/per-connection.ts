import type { NatsConnection } from "nats";

/**
 * Memoises an async setup per NATS connection (opening a bucket, making sure a stream exists):
 * each costs JetStream API round trips, and the callers run every epoch. A failed setup is
 * forgotten, so the next call tries again.
 */
export function perConnection<T>(setup: (nats: NatsConnection) => Promise<T>): (nats: NatsConnection) => Promise<T> {
  const done = new WeakMap<NatsConnection, Promise<T>>();
  return (nats) => {
    let pending = done.get(nats);
    if (!pending) {
      pending = setup(nats);
      done.set(nats, pending);
      pending.catch(() => done.delete(nats));
    }
    return pending;
  };
}
