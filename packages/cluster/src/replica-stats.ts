import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { AugmentReplicaStatsSchema, type AugmentReplicaStats } from "@mnist/protocol";
import type { NatsConnection, Subscription } from "nats";

// Core NATS, not JetStream: what a replica is doing is only worth knowing while it is fresh.
const statsSubjectPrefix = "mnist.augment.stats";
export const augmentStatsSubject = (replicaId: string) => `${statsSubjectPrefix}.${replicaId}`;

/** How often each replica reports; a replica not heard from for three intervals is gone. */
export const augmentStatsIntervalMs = 2_000;
const goneAfterMs = 3 * augmentStatsIntervalMs;

/** A replica id is one subject token. */
export const REPLICA_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export function publishAugmentStats(nats: NatsConnection, stats: MessageInitShape<typeof AugmentReplicaStatsSchema>): void {
  const message = create(AugmentReplicaStatsSchema, stats);
  nats.publish(augmentStatsSubject(message.replicaId), toBinary(AugmentReplicaStatsSchema, message));
}

/** Why a message on `subject` is no replica's report (undefined when it can be). */
export function replicaStatsFault(subject: string, stats: AugmentReplicaStats): string | undefined {
  if (!REPLICA_ID_PATTERN.test(stats.replicaId)) return `replicaId ${JSON.stringify(stats.replicaId.slice(0, 140))} is not 1 to 128 of A-Z a-z 0-9 _ -`;
  if (subject !== augmentStatsSubject(stats.replicaId)) return `replica ${stats.replicaId} reported on ${subject.slice(0, 200)}`;
  if (!Number.isFinite(stats.imagesPerSecond) || stats.imagesPerSecond < 0) return `imagesPerSecond ${stats.imagesPerSecond} is not a finite number ≥ 0`;
  return undefined;
}

export interface ReplicaStatsViewOptions {
  /** Each message that is not a replica's report; it is skipped. */
  onInvalid?(reason: "undecodable" | "invalid", detail: string): void;
  /** A replica reported. */
  onReport?(stats: AugmentReplicaStats): void;
}

/** The augment replicas as their latest reports say: the ones heard from lately. */
export class ReplicaStatsView {
  private readonly latest = new Map<string, { stats: AugmentReplicaStats; at: number }>();
  private readonly subscription: Subscription;

  constructor(nats: NatsConnection, private readonly options: ReplicaStatsViewOptions = {}) {
    this.subscription = nats.subscribe(`${statsSubjectPrefix}.*`, {
      callback: (error, message) => {
        if (error) return;
        let stats: AugmentReplicaStats;
        try {
          stats = fromBinary(AugmentReplicaStatsSchema, message.data);
        } catch (failure) {
          this.options.onInvalid?.("undecodable", failure instanceof Error ? failure.message : String(failure));
          return;
        }
        const fault = replicaStatsFault(message.subject, stats);
        if (fault) {
          this.options.onInvalid?.("invalid", fault);
          return;
        }
        this.latest.set(stats.replicaId, { stats, at: Date.now() });
        this.options.onReport?.(stats);
      },
    });
  }

  /** The replicas heard from within the last three report intervals, by id. */
  live(now = Date.now()): AugmentReplicaStats[] {
    const replicas: AugmentReplicaStats[] = [];
    for (const [id, { stats, at }] of this.latest) {
      if (now - at < goneAfterMs) replicas.push(stats);
      else this.latest.delete(id);
    }
    return replicas.sort((a, b) => a.replicaId.localeCompare(b.replicaId));
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}
