import { create } from "@bufbuild/protobuf";
import { announceFailure, checkpointObjectName, LeaseLostError, progressIntervalMs, publishCheckpoint, publishProgress, readCheckpoint, retryWhileTransient, throttled } from "@mnist/cluster";
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
}

/**
 * One run on this trainer: train an epoch from the augment stream, store and announce its
 * checkpoint, wait for the evaluator's decision (synchronous steering), repeat until told to
 * stop. `done` settles when the loop has ended, whatever the reason.
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

  constructor(
    readonly runId: string,
    readonly spec: ResolvedRunSpec,
    private readonly start: RunStart,
    private readonly context: RunContext,
  ) {
    this.epoch = start.epoch;
    this.eta = start.eta;
    this.examplesSeen = start.examplesSeen;
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
      if (this.start.awaitDecisionFor !== undefined && !(await this.awaitDecision(this.start.awaitDecisionFor))) return;
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
        });
        // Paused past the heartbeat's TTL (before or while storing the checkpoint): another
        // trainer may be training this epoch already, so nothing more is written for the run here.
        const lapsed = () => {
          this.log.warn({ run: this.runId, epoch }, "heartbeat lapsed during the epoch: its checkpoint is dropped, the run is placed elsewhere");
          this.context.leaseLost();
        };
        if (!this.context.leaseValid()) return lapsed();
        const storing = performance.now();
        try {
          // NATS restarting is no reason to fail the run: the checkpoint is stored once it is back.
          await retryWhileTransient(() => publishCheckpoint(this.context.nats, checkpoint, this.context.trainerId, () => this.context.leaseValid()), signal, (error, attempt) =>
            this.log.warn({ run: this.runId, epoch, attempt, err: error }, "checkpoint not stored yet; trying again"),
          );
        } catch (error) {
          if (error instanceof LeaseLostError) return lapsed();
          throw error;
        }
        if (!this.context.leaseValid()) return lapsed();
        const checkpointSeconds = (performance.now() - storing) / 1000;
        this.context.metrics.checkpoints.inc();
        this.log.info({ run: this.runId, epoch, eta, trainSeconds: timing.trainSeconds, waitSeconds: timing.waitSeconds, checkpointSeconds, imagesPerSecond: timing.imagesPerSecond }, "epoch trained");
        const deciding = performance.now();
        if (!(await this.awaitDecision(epoch))) return;
        this.log.debug({ run: this.runId, epoch, decisionSeconds: (performance.now() - deciding) / 1000 }, "decision applied");
      }
    } catch (error) {
      if (signal.aborted) return;
      const message = error instanceof Error ? error.message : String(error);
      this.log.error({ run: this.runId, epoch: this.epoch, err: error }, "run failed");
      await announceFailure(this.context.nats, { runId: this.runId, epoch: this.epoch, eta: this.eta, trainerId: this.context.trainerId, error: message }).catch(
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

  /** Waits for the decision on `epoch` and applies it; false when the run ends. */
  private async awaitDecision(epoch: number): Promise<boolean> {
    let verdict;
    try {
      verdict = await this.mailbox.wait(epoch, this.abort.signal);
    } catch {
      return false;
    }
    if (verdict.decision === Decision.STOP) {
      this.log.info({ run: this.runId, epoch, reason: verdict.reason }, "run stopped by the evaluator");
      return false;
    }
    if (verdict.restoreEpoch !== undefined) await this.restore(verdict.restoreEpoch);
    this.eta = verdict.eta;
    this.epoch = epoch + 1;
    return true;
  }

  /** Puts an earlier epoch's weights and velocities (its checkpoint, which the evaluator keeps for the best epoch) back in training. */
  private async restore(epoch: number): Promise<void> {
    const name = checkpointObjectName(this.runId, epoch);
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
