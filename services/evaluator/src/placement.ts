import { timestampDate, timestampNow } from "@bufbuild/protobuf/wkt";
import type { TrainerView } from "@mnist/cluster";
import { GrpcStatusError, isPermanent, status } from "@mnist/grpc";
import { RunEventKind, RunState, type RunRecord, type TrainerInfo } from "@mnist/protocol";
import type { Logger } from "@mnist/runtime";
import { addEvent } from "./audit.js";
import type { RunStore } from "./run-store.js";
import type { TrainerClients } from "./trainer-clients.js";

/** What placement tells the part that steers runs. */
export interface PlacementEvents {
  /** A run started on a trainer, from `startEpoch` (later than 0: resumed from a checkpoint). */
  placed(run: RunRecord, startEpoch: number): Promise<void>;
  /** A trainer refused the run for a reason no retry can change (a bad spec, corrupt data). */
  refused(run: RunRecord, reason: string): Promise<void>;
  /** End of a pass: the running runs and the live trainers it saw. */
  passed(running: RunRecord[], trainers: TrainerInfo[]): Promise<void>;
}

/** The longest a trainer that does not answer is passed over. */
const maxBackoffMs = 30_000;

/** The queued runs, oldest first: the order they are placed in. */
export function queuedRuns(active: readonly RunRecord[]): RunRecord[] {
  return active.filter((run) => run.state === RunState.QUEUED).sort((a, b) => a.runId.localeCompare(b.runId));
}

/** The running runs whose trainer's heartbeat is no longer seen. */
export function orphanedRuns(active: readonly RunRecord[], trainers: readonly TrainerInfo[]): RunRecord[] {
  const live = new Set(trainers.map((trainer) => trainer.trainerId));
  return active.filter((run) => run.state === RunState.RUNNING && !live.has(run.trainerId));
}

/** Runs each trainer holds: those it announces and those the records give it. */
export function trainerLoad(active: readonly RunRecord[], trainers: readonly TrainerInfo[]): Map<string, Set<string>> {
  const load = new Map(trainers.map((trainer) => [trainer.trainerId, new Set(trainer.runIds)]));
  for (const run of active) if (run.state === RunState.RUNNING) load.get(run.trainerId)?.add(run.runId);
  return load;
}

/**
 * The live trainer whose heartbeat says it trains a queued run: its StartRun went through but the
 * record never said so (an evaluator that died in between). Only there can the run be placed: the
 * trainer counts it against its room, and waits for decisions no one could send it otherwise.
 */
export function announcedHolder(run: RunRecord, trainers: readonly TrainerInfo[]): TrainerInfo | undefined {
  return trainers.find((trainer) => trainer.runIds.includes(run.runId));
}

/** The trainer with the most free room among those not excluded, if any has room. */
export function freestTrainer(trainers: readonly TrainerInfo[], load: ReadonlyMap<string, ReadonlySet<string>>, excluded: (trainerId: string) => boolean): TrainerInfo | undefined {
  let best: TrainerInfo | undefined;
  let bestFree = 0;
  for (const trainer of trainers) {
    const free = trainer.maxRuns - (load.get(trainer.trainerId)?.size ?? 0);
    if (free > bestFree && !excluded(trainer.trainerId)) [best, bestFree] = [trainer, free];
  }
  return best;
}

type Outcome = "placed" | "not-placed" | "full" | "unreachable";

/**
 * Places queued runs on trainers with free room, oldest run first, and re-queues the running runs
 * of trainers whose heartbeat has expired. It reads nothing to decide: the store and the trainer
 * view are kept current by their watches. One pass at a time: passes are started by changes
 * (a run queued or ended, a trainer come or gone) and a periodic tick, and coalesce while one is
 * under way.
 */
export class Placement {
  /** Trainers that did not answer StartRun: skipped until `until`, backing off on each failure. */
  private readonly unreachable = new Map<string, { until: number; failures: number }>();
  private passRunning: Promise<void> | undefined;
  private passWanted = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: RunStore,
    private readonly trainers: TrainerView,
    private readonly clients: TrainerClients,
    private readonly events: PlacementEvents,
    private readonly logger: Logger,
    /** Seconds from launch to first placement. */
    private readonly onFirstPlacement: (seconds: number) => void = () => undefined,
  ) {}

  start(tickMs: number): void {
    this.timer = setInterval(() => this.kick(), tickMs);
    this.kick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.passRunning;
  }

  kick(): void {
    if (this.passRunning) {
      this.passWanted = true;
      return;
    }
    this.passRunning = this.pass()
      .catch((error: unknown) => this.logger.error({ err: error }, "placement pass failed"))
      .finally(() => {
        this.passRunning = undefined;
        if (this.passWanted) {
          this.passWanted = false;
          this.kick();
        }
      });
  }

  private async pass(): Promise<void> {
    const trainers = this.trainers.live();
    this.clients.keepOnly(trainers);
    for (const id of this.unreachable.keys()) if (!trainers.some((trainer) => trainer.trainerId === id)) this.unreachable.delete(id);
    for (const run of orphanedRuns(this.store.active(), trainers)) await this.requeue(run);
    const active = this.store.active();
    const load = trainerLoad(active, trainers);
    const full = new Set<string>();
    const passedOver = (trainerId: string) => full.has(trainerId) || (this.unreachable.get(trainerId)?.until ?? 0) > Date.now();
    for (const run of queuedRuns(active)) {
      const holder = announcedHolder(run, trainers);
      if (holder) {
        // StartRun is idempotent: the trainer answers with the epoch the run is at.
        if (!passedOver(holder.trainerId)) await this.placeOn(run, holder).catch((error: unknown) => this.logger.error({ run: run.runId, err: error }, "run not placed"));
        continue;
      }
      // The freest reachable trainer first; one that cannot take the run now is passed over for the next.
      for (let trainer = freestTrainer(trainers, load, passedOver); trainer; trainer = freestTrainer(trainers, load, passedOver)) {
        const outcome = await this.placeOn(run, trainer).catch((error: unknown): Outcome => {
          // One run's trouble (its record unreadable, its failure unrecordable) must not hold up the rest.
          this.logger.error({ run: run.runId, err: error }, "run not placed");
          return "not-placed";
        });
        if (outcome === "placed") load.get(trainer.trainerId)!.add(run.runId);
        if (outcome === "full") full.add(trainer.trainerId);
        if (outcome === "placed" || outcome === "not-placed") break;
      }
    }
    await this.events.passed(
      this.store.active().filter((run) => run.state === RunState.RUNNING),
      trainers,
    );
  }

  /** A running run whose trainer is gone goes back to the queue, once the server confirms the trainer's heartbeat has expired. */
  private async requeue(run: RunRecord): Promise<void> {
    if (!(await this.trainers.confirmGone(run.trainerId))) return;
    this.logger.warn({ run: run.runId, trainer: run.trainerId }, "trainer gone, re-queueing run");
    await this.store.update(run.runId, (record) => {
      if (record.state !== RunState.RUNNING || record.trainerId !== run.trainerId) return false;
      record.state = RunState.QUEUED;
      addEvent(record, RunEventKind.REQUEUE, record.epochs.length, { reason: `trainer ${run.trainerId} lost: its heartbeat expired`, detail: `trainer=${run.trainerId}` });
    });
  }

  /**
   * Starts `run` on `trainer` under a new placement generation; "full" or "unreachable" when that
   * trainer cannot take it now (the run stays queued). The generation is recorded before the
   * trainer hears of it, so from then on nothing an earlier placement writes is accepted.
   */
  private async placeOn(run: RunRecord, trainer: TrainerInfo): Promise<Outcome> {
    const reserved = await this.store.update(run.runId, (record) => {
      if (record.state !== RunState.QUEUED) return false;
      record.generation += 1;
    });
    if (reserved?.state !== RunState.QUEUED) return "not-placed";
    const { generation } = reserved;
    const last = reserved.epochs.at(-1);
    const resumeFrom = last && { epoch: last.epoch, generation: last.generation };
    let startEpoch: number;
    try {
      ({ startEpoch } = await this.clients.of(trainer).startRun({ runId: run.runId, spec: reserved.spec, generation, resumeFrom }, { timeoutMs: 30_000 }));
    } catch (error) {
      if (error instanceof GrpcStatusError && isPermanent(error.code)) {
        // Another trainer would refuse it too: the run fails, with the trainer's reason in its record.
        this.logger.warn({ run: run.runId, trainer: trainer.trainerId, err: error }, "trainer refused run for good");
        await this.events.refused(run, `trainer ${trainer.trainerId} refused the run: ${error.message}`);
        return "not-placed";
      }
      if (error instanceof GrpcStatusError && error.code === status.RESOURCE_EXHAUSTED) {
        this.logger.warn({ run: run.runId, trainer: trainer.trainerId, err: error }, "trainer full; trying another");
        return "full";
      }
      const failures = (this.unreachable.get(trainer.trainerId)?.failures ?? 0) + 1;
      const backoffMs = Math.min(maxBackoffMs, 1_000 * 2 ** (failures - 1));
      this.unreachable.set(trainer.trainerId, { until: Date.now() + backoffMs, failures });
      this.logger.warn({ run: run.runId, trainer: trainer.trainerId, backoffMs, err: error }, "trainer did not take the run; trying another");
      return "unreachable";
    }
    this.unreachable.delete(trainer.trainerId);
    let first = false;
    const placed = await this.store.update(run.runId, (record) => {
      if (record.state !== RunState.QUEUED || record.generation !== generation) return false;
      record.state = RunState.RUNNING;
      record.trainerId = trainer.trainerId;
      first = record.startedAt === undefined;
      record.startedAt ??= timestampNow();
      addEvent(record, RunEventKind.PLACE, startEpoch, { reason: startEpoch > 0 ? `resumed from epoch ${startEpoch - 1}'s checkpoint` : "", detail: `trainer=${trainer.trainerId} generation=${generation}` });
    });
    if (placed?.state !== RunState.RUNNING || placed.trainerId !== trainer.trainerId || placed.generation !== generation) {
      // Stopped, or placed by another evaluator, while we were starting it.
      await this.clients.of(trainer).stopTraining({ runId: run.runId, reason: "stopped" }).catch(() => undefined);
      return "not-placed";
    }
    this.logger.info({ run: run.runId, trainer: trainer.trainerId, generation, startEpoch }, "run placed");
    if (first && placed.createdAt && placed.startedAt) this.onFirstPlacement((timestampDate(placed.startedAt).getTime() - timestampDate(placed.createdAt).getTime()) / 1000);
    void this.events.placed(placed, startEpoch).catch((error: unknown) => this.logger.warn({ run: run.runId, err: error }, "could not repeat the last decision"));
    return "placed";
  }
}
