import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { TrainerInfoSchema, type TrainerInfo } from "@mnist/protocol";
import type { KV, NatsConnection } from "nats";
import { watchKv } from "./kv-watch.js";
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

export interface TrainerViewOptions {
  /** Each entry that is not a trainer's heartbeat (undecodable, inconsistent); it is skipped. */
  onInvalid?(key: string, reason: "undecodable" | "invalid", detail: string): void;
  onWatchError?(error: unknown): void;
  /** A trainer appeared, changed (capacity, runs) or left. */
  onChange?(): void;
}

interface Beat {
  info: TrainerInfo;
  /** When the server stored the heartbeat. */
  at: number;
}

/**
 * The trainers as their heartbeats say, kept current by a watch of the `trainers` bucket: no
 * reads to ask who is alive. A heartbeat older than the TTL is gone from the server without a
 * word to watchers, so age is judged by the server's timestamp; `confirmGone` asks the server
 * itself before anything is taken from a trainer, so a clock ahead of the server's never
 * re-places a run whose trainer still holds its lease.
 */
export class TrainerView {
  private readonly beats = new Map<string, Beat>();
  private readonly watching = new AbortController();
  private following: Promise<void> = Promise.resolve();

  private constructor(
    private readonly kv: KV,
    private readonly options: TrainerViewOptions,
  ) {}

  /** Resolves once the heartbeats stored now have been read. */
  static async open(nats: NatsConnection, options: TrainerViewOptions = {}): Promise<TrainerView> {
    const view = new TrainerView(await openTrainers(nats), options);
    await new Promise<void>((initialized) => {
      view.following = view.follow(initialized);
    });
    return view;
  }

  /** The trainers whose last heartbeat is younger than the TTL, by id. */
  live(now = Date.now()): TrainerInfo[] {
    const trainers: TrainerInfo[] = [];
    for (const [key, { info, at }] of this.beats) {
      if (now - at < trainerTtlMs) trainers.push(info);
      // Long gone (its entry expired on the server, silently): forgotten, so heartbeats that come and go leave nothing behind.
      else if (now - at > 2 * trainerTtlMs) this.beats.delete(key);
    }
    return trainers.sort((a, b) => a.trainerId.localeCompare(b.trainerId));
  }

  /** The live trainer named `trainerId`, if any. */
  find(trainerId: string): TrainerInfo | undefined {
    return this.live().find((trainer) => trainer.trainerId === trainerId);
  }

  /** True when the server holds no heartbeat of `trainerId` any more (expired or deleted). */
  async confirmGone(trainerId: string): Promise<boolean> {
    const entry = await this.kv.get(trainerId);
    return entry?.operation !== "PUT";
  }

  async stop(): Promise<void> {
    this.watching.abort();
    await this.following;
  }

  private async follow(initialized: () => void): Promise<void> {
    const options = { onWatchError: (error: unknown) => this.options.onWatchError?.(error), onInitialized: initialized };
    for await (const entry of watchKv(this.kv, ">", this.watching.signal, options)) {
      if (entry.operation !== "PUT") {
        if (this.beats.delete(entry.key)) this.options.onChange?.();
        continue;
      }
      let info: TrainerInfo;
      try {
        info = fromBinary(TrainerInfoSchema, entry.value);
      } catch (error) {
        this.options.onInvalid?.(entry.key, "undecodable", error instanceof Error ? error.message : String(error));
        continue;
      }
      const fault = trainerFault(entry.key, info);
      if (fault) {
        this.options.onInvalid?.(entry.key, "invalid", fault);
        continue;
      }
      const previous = this.beats.get(entry.key)?.info;
      this.beats.set(entry.key, { info, at: entry.created.getTime() });
      if (!previous || previous.maxRuns !== info.maxRuns || previous.runIds.join() !== info.runIds.join() || previous.address !== info.address) this.options.onChange?.();
    }
  }
}
