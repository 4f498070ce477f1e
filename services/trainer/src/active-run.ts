import { create } from "@bufbuild/protobuf";
import {
  announceFailure,
  checkpointObjectName,
  deleteCheckpoint,
  latestObjectName,
  LeaseLostError,
  progressIntervalMs,
  publishCheckpoint,
  publishProgress,
  readCheckpoint,
  recordedGeneration,
  retryWhileTransient,
  throttled,
  type CheckpointStep,
} from "@mnist/cluster";
import { decodeCheckpoint, encodeCheckpoint, getBlasThreads, restoreTrainingState, type TrainingState } from "@mnist/core";
import type { EpochSource } from "@mnist/stream";
import { Decision, RunCheckpointSchema } from "@mnist/protocol";
import type { Logger } from "@mnist/runtime";
import { type ResolvedRunSpec } from "@mnist/spec";
import { trainEpochFrom, type EpochTiming } from "@mnist/training";
import type { NatsConnection } from "nats";
import { DecisionMailbox } from "./decisions.js";
import type { TrainerMetrics } from "./metrics.js";

export interface RunContext {
  nats: NatsConnection;
  logger: Logger;
  trainerId: string;
  /** False once the trainer's heartbeat may have expired: its runs may be someone else's by now. */
  leaseValid(): boolean;
  /** Tells the trainer its heartbeat lapsed: it gives up all its runs (this one included). */
  leaseLost(): void;
  /** Called just before each step of storing an epoch's checkpoint (a test may stop the process there). */
  failpoint(step: CheckpointStep, epoch: number): void;
  metrics: TrainerMetrics;
}

export interface RunStart {
  state: TrainingState;
  source: EpochSource;
  /** The first epoch to train. */
  epoch: number;
  eta: number;
  examplesSeen: bigint;
  /** Resumed runs first wait for the evaluator's decision on the checkpoint they resumed from. */
  awaitDecisionFor?: number;
  /** The object a resumed run started from: the run's latest copy until a newer epoch is decided. */
  resumedFrom?: string;
}

/**
 * One run on this trainer, under one placement generation: train an epoch from the augment
 * stream, store and announce its checkpoint (both under the generation, so that once the run is
 * placed elsewhere nothing this placement writes is taken), wait for the evaluator's decision
 * (synchronous steering), repeat until told to stop. `done` settles when the loop has ended,
 * whatever the reason.
 */
export class ActiveRun {
  readonly mailbox = new DecisionMailbox();
  readonly done: Promise<void>;
  epoch: number;
  eta: number;
  paused = false;
  private readonly abort = new AbortController();
  private resumeWaiters: (() => void)[] = [];
  private examplesSeen: bigint;
  private reRequestsCounted = 0;
  /** The run's newest decided checkpoint copy, which a resuming trainer reads. */
  private latest: string | undefined;

  constructor(
    readonly runId: string,
    readonly generation: number,
    readonly spec: ResolvedRunSpec,
    private readonly start: RunStart,
    private readonly context: RunContext,
  ) {
    this.epoch = start.epoch;
    this.eta = start.eta;
    this.examplesSeen = start.examplesSeen;
    this.latest = start.resumedFrom;
    this.done = this.loop();
  }

  /** Ends the run's loop at the next opportunity (an epoch in progress is abandoned). */
  stop(reason: string): void {
    if (!this.abort.signal.aborted) this.abort.abort(new Error(reason));
    this.resume();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const wake of this.resumeWaiters.splice(0)) wake();
  }

  private get log(): Logger {
    return this.context.logger;
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    const { state, source } = this.start;
    try {
      if (this.start.awaitDecisionFor !== undefined && !(await this.awaitDecision(this.start.awaitDecisionFor, this.latest))) return;
      for (;;) {
        await this.unpaused();
        if (signal.aborted) return;
        const epoch = this.epoch;
        const eta = this.eta;
        const onProgress = throttled(progressIntervalMs, (examples, total, seconds) =>
          publishProgress(this.context.nats, { runId: this.runId, epoch, examples, total, imagesPerSecond: examples / seconds }),
        );
        const timing = await trainEpochFrom(state, source, this.spec, epoch, eta, { signal, onProgress });
        this.examplesSeen += BigInt(timing.examples);
        this.measured(timing, source.stats().reRequests);
        const checkpoint = create(RunCheckpointSchema, {
          runId: this.runId,
          epoch,
          eta,
          // Without momentum the velocities stay zero (what a resumed run starts from): half the bytes.
          state: encodeCheckpoint(state.network, this.spec.momentum > 0 ? state.velocities : undefined),
          examplesSeen: this.examplesSeen,
          blasThreads: getBlasThreads(),
          trainSeconds: timing.trainSeconds,
          imagesPerSecond: timing.imagesPerSecond,
          generation: this.generation,
        });
        // Nothing more is written for the run once it is stopped (by request, or by the trainer
        // standing down from every run) or the trainer's heartbeat has lapsed (paused past its TTL,
        // before or while storing the checkpoint: another trainer may be training this epoch
        // already). Both, and the record's generation, are cheap checks that spare a write the
        // evaluator would refuse; what fences a late write is the generation it carries.
        const holding = () => !signal.aborted && this.context.leaseValid();
        const dropped = () => {
          if (signal.aborted) return;
          this.log.warn({ run: this.runId, epoch, generation: this.generation }, "heartbeat lapsed during the epoch: its checkpoint is dropped, the run is placed elsewhere");
          this.context.leaseLost();
        };
        if (!holding()) return dropped();
        if (await this.superseded(epoch)) return;
        const storing = performance.now();
        try {
          // NATS restarting is no reason to fail the run: the checkpoint is stored once it is back.
          const options = { holding, before: (step: CheckpointStep) => this.context.failpoint(step, epoch) };
          await retryWhileTransient(() => publishCheckpoint(this.context.nats, checkpoint, this.context.trainerId, options), signal, (error, attempt) =>
            this.log.warn({ run: this.runId, epoch, attempt, err: error }, "checkpoint not stored yet; trying again"),
          );
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          // Stored, never announced: no one will read them (not the evaluator, not a resuming trainer).
          if (error.step === "announce") this.removeUnannounced(epoch);
          return dropped();
        }
        if (!holding()) return dropped();
        const checkpointSeconds = (performance.now() - storing) / 1000;
        this.context.metrics.checkpoints.inc();
        this.log.info({ run: this.runId, epoch, generation: this.generation, eta, trainSeconds: timing.trainSeconds, waitSeconds: timing.waitSeconds, checkpointSeconds, imagesPerSecond: timing.imagesPerSecond }, "epoch trained");
        const deciding = performance.now();
        if (!(await this.awaitDecision(epoch, latestObjectName(this.runId, epoch, this.generation)))) return;
        this.log.debug({ run: this.runId, epoch, decisionSeconds: (performance.now() - deciding) / 1000 }, "decision applied");
      }
    } catch (error) {
      if (signal.aborted) return;
      const message = error instanceof Error ? error.message : String(error);
      this.log.error({ run: this.runId, epoch: this.epoch, err: error }, "run failed");
      const failure = { runId: this.runId, epoch: this.epoch, eta: this.eta, trainerId: this.context.trainerId, generation: this.generation, error: message };
      await announceFailure(this.context.nats, failure).catch(
        (announceError: unknown) => this.log.error({ run: this.runId, err: announceError }, "could not report the failure"),
      );
    } finally {
      this.abort.abort(new Error("run ended"));
      this.context.metrics.imagesPerSecond.remove({ run: this.runId });
      await source.close();
    }
  }

  /** An epoch's figures into the trainer's metrics; `reRequests` is the source's running total. */
  private measured(timing: EpochTiming, reRequests: number): void {
    const { metrics } = this.context;
    metrics.epochs.inc();
    metrics.epochSeconds.observe(timing.trainSeconds);
    metrics.waitSeconds.inc(timing.waitSeconds);
    metrics.imagesPerSecond.set({ run: this.runId }, timing.imagesPerSecond);
    if (reRequests > this.reRequestsCounted) metrics.slicesRerequested.inc(reRequests - this.reRequestsCounted);
    this.reRequestsCounted = reRequests;
  }

  /**
   * True, and said, when the run's record names a newer placement than this one: the run is
   * another trainer's now. A record that cannot be read says nothing either way.
   */
  private async superseded(epoch: number): Promise<boolean> {
    const recorded = await recordedGeneration(this.context.nats, this.runId).catch(() => undefined);
    if (recorded === undefined || recorded <= this.generation) return false;
    this.log.warn({ run: this.runId, epoch, generation: this.generation, recorded }, "run placed elsewhere under a newer generation: its checkpoint is dropped here");
    return true;
  }

  /**
   * Waits for the decision on `epoch` and applies it; false when the run ends. `latest` is the
   * epoch's checkpoint copy: decided, it is what a resuming trainer starts from, and the copy
   * before it goes.
   */
  private async awaitDecision(epoch: number, latest: string | undefined): Promise<boolean> {
    let verdict;
    try {
      verdict = await this.mailbox.wait(epoch, this.abort.signal);
    } catch {
      return false;
    }
    this.keepLatest(latest);
    if (verdict.decision === Decision.STOP) {
      this.log.info({ run: this.runId, epoch, reason: verdict.reason }, "run stopped by the evaluator");
      return false;
    }
    if (verdict.restore !== undefined) await this.restore(verdict.restore.epoch, verdict.restore.generation);
    this.eta = verdict.eta;
    this.epoch = epoch + 1;
    return true;
  }

  /** Removes the epoch's checkpoint objects of this generation, stored but never announced; without holding up the run's end. */
  private removeUnannounced(epoch: number): void {
    for (const name of [checkpointObjectName(this.runId, epoch, this.generation), latestObjectName(this.runId, epoch, this.generation)]) {
      void deleteCheckpoint(this.context.nats, name).catch((error: unknown) => this.log.warn({ run: this.runId, object: name, err: error }, "could not remove an unannounced checkpoint"));
    }
  }

  /** Makes `latest` the run's one latest copy: the one before it is removed, without holding up training. */
  private keepLatest(latest: string | undefined): void {
    const previous = this.latest;
    this.latest = latest;
    if (previous === undefined || previous === latest) return;
    void deleteCheckpoint(this.context.nats, previous).catch((error: unknown) => this.log.warn({ run: this.runId, object: previous, err: error }, "could not remove the previous latest checkpoint"));
  }

  /** Puts an earlier epoch's weights and velocities (its checkpoint, which the evaluator keeps for the best epoch) back in training. */
  private async restore(epoch: number, generation: number): Promise<void> {
    const name = checkpointObjectName(this.runId, epoch, generation);
    const checkpoint = await retryWhileTransient(() => readCheckpoint(this.context.nats, name), this.abort.signal, (error, attempt) =>
      this.log.warn({ run: this.runId, epoch, attempt, err: error }, "checkpoint to restore not read yet; trying again"),
    );
    if (!checkpoint) throw new Error(`checkpoint ${name} to restore is gone`);
    const { network, velocities } = decodeCheckpoint(checkpoint.state, `checkpoint ${name}`);
    restoreTrainingState(this.start.state, network, velocities);
    this.log.info({ run: this.runId, epoch: this.epoch, restoredEpoch: epoch }, "restored the best epoch's weights");
  }

  private unpaused(): Promise<void> {
    if (!this.paused) return Promise.resolve();
    this.log.info({ run: this.runId, epoch: this.epoch }, "run paused");
    return new Promise((resolve) => this.resumeWaiters.push(resolve));
  }
}
