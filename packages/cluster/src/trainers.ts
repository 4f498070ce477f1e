import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { TrainerInfoSchema, type TrainerInfo } from "@mnist/protocol";
import type { KV, NatsConnection } from "nats";
import { kvKeys } from "./kv-keys.js";
import { perConnection } from "./per-connection.js";

export const trainersBucket = "trainers";
/** A trainer that has not beaten for this long is gone; its runs are placed elsewhere. */
export const trainerTtlMs = 6_000;
export const heartbeatIntervalMs = 1_500;

const openTrainers = perConnection((nats): Promise<KV> => nats.jetstream().views.kv(trainersBucket, { history: 1, ttl: trainerTtlMs }));

/**
 * A heartbeat older than this may already have expired on the server (clocks drift, a put takes
 * time): past it, the trainer must assume the evaluator has placed its runs elsewhere.
 */
export const leaseMs = trainerTtlMs - 1_000;

/**
 * Keeps a trainer's TrainerInfo fresh in the `trainers` bucket until stopped, then removes it.
 * Its lease is the time since the last heartbeat the server accepted: a trainer paused (SIGSTOP,
 * a long GC, a NATS outage) for longer than the TTL has lost its runs, and `onLeaseLost` tells it
 * so at the first beat after it resumes.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() when the last accepted put was sent (monotonic: it counts a SIGSTOP too). */
  private lastAccepted = -Infinity;

  private constructor(
    private readonly kv: KV,
    private readonly info: () => MessageInitShape<typeof TrainerInfoSchema>,
    private readonly onLeaseLost: (lapsedMs: number) => void,
  ) {}

  static async start(
    nats: NatsConnection,
    info: () => MessageInitShape<typeof TrainerInfoSchema>,
    onLeaseLost: (lapsedMs: number) => void = () => undefined,
  ): Promise<Heartbeat> {
    const heartbeat = new Heartbeat(await openTrainers(nats), info, onLeaseLost);
    await heartbeat.beat();
    heartbeat.timer = setInterval(() => void heartbeat.beat().catch(() => undefined), heartbeatIntervalMs);
    return heartbeat;
  }

  /** Milliseconds since the last accepted heartbeat was sent. */
  get lapsedMs(): number {
    return performance.now() - this.lastAccepted;
  }

  /** True while the last accepted heartbeat is recent enough that our entry cannot have expired. */
  get leaseValid(): boolean {
    return this.lapsedMs < leaseMs;
  }

  /** Publishes now, e.g. right after capacity changed. */
  async beat(): Promise<void> {
    const sent = performance.now();
    const lapsedMs = sent - this.lastAccepted;
    // Lost first, announced after: the runs are dropped before the new beat can advertise them.
    if (Number.isFinite(lapsedMs) && lapsedMs >= leaseMs) this.onLeaseLost(lapsedMs);
    const info = create(TrainerInfoSchema, this.info());
    await this.kv.put(info.trainerId, toBinary(TrainerInfoSchema, info));
    this.lastAccepted = sent;
  }

  /** Removes another name's entry at once (a name given up), rather than waiting for it to expire. */
  async forget(trainerId: string): Promise<void> {
    await this.kv.delete(trainerId);
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
  for (const key of await kvKeys(nats, trainersBucket)) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") trainers.push(fromBinary(TrainerInfoSchema, entry.value));
  }
  return trainers.sort((a, b) => a.trainerId.localeCompare(b.trainerId));
}
