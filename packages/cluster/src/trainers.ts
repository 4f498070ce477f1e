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

/** The most runs one trainer may hold (TRAINER_MAX_RUNS's bound). */
export const maxRunsPerTrainer = 64;

/** Why a `trainers` entry cannot be a trainer's heartbeat (undefined when it can). */
export function trainerFault(key: string, info: TrainerInfo): string | undefined {
  if (info.trainerId !== key) return `trainerId ${JSON.stringify(info.trainerId.slice(0, 140))} differs from its key`;
  if (!/^[^\s/]{1,253}:\d{1,5}$/.test(info.address)) return `address ${JSON.stringify(info.address.slice(0, 300))} is not host:port`;
  if (info.maxRuns < 1 || info.maxRuns > maxRunsPerTrainer) return `maxRuns ${info.maxRuns} is not from 1 to ${maxRunsPerTrainer}`;
  if (info.runIds.length > info.maxRuns) return `${info.runIds.length} runs for a capacity of ${info.maxRuns}`;
  return undefined;
}

/**
 * The trainers alive now (their heartbeat younger than the bucket's TTL). Entries that are not a
 * trainer's heartbeat (undecodable, inconsistent) are skipped and reported to `onInvalid`.
 */
export async function liveTrainers(nats: NatsConnection, onInvalid: (key: string, reason: string) => void = () => undefined): Promise<TrainerInfo[]> {
  const kv = await openTrainers(nats);
  const trainers: TrainerInfo[] = [];
  for (const key of await kvKeys(nats, trainersBucket)) {
    const entry = await kv.get(key);
    if (entry?.operation !== "PUT") continue;
    let info: TrainerInfo;
    try {
      info = fromBinary(TrainerInfoSchema, entry.value);
    } catch (error) {
      onInvalid(key, `undecodable: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const fault = trainerFault(key, info);
    if (fault) onInvalid(key, fault);
    else trainers.push(info);
  }
  return trainers.sort((a, b) => a.trainerId.localeCompare(b.trainerId));
}
