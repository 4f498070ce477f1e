import type { NatsConnection } from "nats";

/**
 * The keys of a JetStream KV bucket, from one stream-info request (paged by the client).
 * Not `kv.keys()`: its ordered consumer counts the messages first and then waits for that many,
 * and in a bucket whose entries are overwritten or expire all the time (heartbeats with a TTL,
 * records with history 1) a message can vanish in between, leaving it waiting for ever.
 * Keys whose last operation is a delete are included: read each with `kv.get` and skip those.
 */
export async function kvKeys(nats: NatsConnection, bucket: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const manager = await nats.jetstreamManager();
  const info = await manager.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  return Object.keys(info.state.subjects ?? {})
    .map((subject) => subject.slice(prefix.length))
    .sort();
}
