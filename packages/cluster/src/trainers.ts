import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { TrainerInfoSchema, type TrainerInfo } from "@mnist/protocol";
import type { KV, NatsConnection } from "nats";
import { perConnection } from "./per-connection.js";

export const trainersBucket = "trainers";
/** A trainer that has not beaten for this long is gone; its runs are placed elsewhere. */
export const trainerTtlMs = 6_000;
export const heartbeatIntervalMs = 1_500;

const openTrainers = perConnection((nats): Promise<KV> => nats.jetstream().views.kv(trainersBucket, { history: 1, ttl: trainerTtlMs }));

/** Keeps a trainer's TrainerInfo fresh in the `trainers` bucket until stopped, then removes it. */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly info: () => MessageInitShape<typeof TrainerInfoSchema>,
  ) {}

  static async start(nats: NatsConnection, info: () => MessageInitShape<typeof TrainerInfoSchema>): Promise<Heartbeat> {
    const heartbeat = new Heartbeat(await openTrainers(nats), info);
    await heartbeat.beat();
    heartbeat.timer = setInterval(() => void heartbeat.beat().catch(() => undefined), heartbeatIntervalMs);
    return heartbeat;
  }

  /** Publishes now, e.g. right after capacity changed. */
  async beat(): Promise<void> {
    const info = create(TrainerInfoSchema, this.info());
    await this.kv.put(info.trainerId, toBinary(TrainerInfoSchema, info));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const info = this.info();
    if (info.trainerId) await this.kv.delete(info.trainerId);
  }
}

/** The trainers alive now (their heartbeat younger than the bucket's TTL). */
export async function liveTrainers(nats: NatsConnection): Promise<TrainerInfo[]> {
  const kv = await openTrainers(nats);
  const trainers: TrainerInfo[] = [];
  // Collect the keys first: awaiting inside the keys() iteration loses keys.
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  for (const key of keys) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") trainers.push(fromBinary(TrainerInfoSchema, entry.value));
  }
  return trainers.sort((a, b) => a.trainerId.localeCompare(b.trainerId));
}
