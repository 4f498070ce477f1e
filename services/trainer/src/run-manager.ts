import { checkpointObjectName, CorruptCheckpointError, Heartbeat, latestObjectName, readCheckpoint, type CheckpointStep } from "@mnist/cluster";
import { createTrainingState, decodeCheckpoint, getBlasThreads } from "@mnist/core";
import { NatsEpochSource } from "@mnist/stream";
import { GrpcStatusError, notFound, status } from "@mnist/grpc";
import { InvalidArgument, invalidArgument } from "@mnist/errors";
import { Decision, type CheckpointRef, type DecideRequest, type StartRunRequest } from "@mnist/protocol";
import type { Logger, Rejections } from "@mnist/runtime";
import { etaRange, initialNetwork, resolveRunSpec, type ResolvedRunSpec } from "@mnist/spec";
import { NATS_SLICE_EXAMPLES, sliceSizeFor } from "@mnist/training";
import type { NatsConnection } from "nats";
import { ActiveRun, type RunStart } from "./active-run.js";
import type { TrainerMetrics } from "./metrics.js";

export interface TrainerOptions {
  trainerId: string;
  maxRuns: number;
  /** Slice requests to the augment service: ask again after this long without the slice. */
  sliceRequestTimeoutMs: number;
  /** Fail the epoch when a slice has not arrived this long after it was first asked for. */
  sliceDeliveryTimeoutMs: number;
  maxSlicesInFlight: number;
  /** A test aid: the process stops itself (SIGSTOP) once, just before this step of this epoch's checkpoint. */
  failpoint?: Failpoint;
}

export interface Failpoint {
  step: CheckpointStep;
  epoch: number;
}

/** A rate the evaluator may send: any the schedule can reach from a launchable one (decays go below etaRange.min). */
function checkEta(eta: number): void {
  if (!(eta > 0 && eta <= etaRange.max)) throw invalidArgument("eta", eta, `a learning rate greater than 0 and at most ${etaRange.max}`);
}

/** The runs a trainer holds (at most maxRuns), and the control plane's operations on them. */
export class RunManager {
  private readonly runs = new Map<string, ActiveRun>();
  private readonly starting = new Set<string>();
  private heartbeat?: Heartbeat;
  /** The name this trainer goes by in the `trainers` bucket: TRAINER_ID, suffixed after each lost lease. */
  private currentId: string;
  private incarnation = 1;

  constructor(
    private readonly nats: NatsConnection,
    private readonly logger: Logger,
    private readonly options: TrainerOptions,
    private readonly rejections: Rejections,
    private readonly metrics: TrainerMetrics,
  ) {
    this.currentId = options.trainerId;
  }

  /** Runs held now: training, starting, or waiting for a decision. */
  get runCount(): number {
    return this.heldRunIds().length;
  }

  /** The runs training, starting or waiting for a decision (a run started anew is in both for a moment). */
  private heldRunIds(): string[] {
    return [...new Set([...this.runs.keys(), ...this.starting])];
  }

  get trainerId(): string {
    return this.currentId;
  }

  /** Announces the trainer (address, capacity, runs) in the `trainers` bucket until stopAll. */
  async announce(address: string): Promise<void> {
    this.heartbeat = await Heartbeat.start(
      this.nats,
      () => ({
        trainerId: this.currentId,
        address,
        maxRuns: this.options.maxRuns,
        runIds: this.heldRunIds(),
      }),
      (lapsedMs) => this.standDown(lapsedMs),
    );
  }

  /** True while this trainer's heartbeat is fresh enough that its runs are still its own. */
  leaseValid(): boolean {
    return this.heartbeat?.leaseValid ?? false;
  }

  /**
   * The heartbeat lapsed past the TTL (the process was paused, or NATS unreachable): the
   * evaluator has given our runs to other trainers, so training them on would train them twice.
   */
  private standDown(lapsedMs: number): void {
    if (this.runs.size === 0 && this.starting.size === 0) return;
    const previous = this.currentId;
    // A new name: the evaluator re-queues whatever it had placed on the old one, and may place it
    // here again, resumed from its checkpoint like on any other trainer.
    this.currentId = `${this.options.trainerId}.${++this.incarnation}`;
    this.logger.warn(
      { runs: [...this.runs.keys()], lapsedMs: Math.round(lapsedMs), trainer: previous, now: this.currentId },
      "heartbeat lapsed past its TTL: standing down from every run and rejoining under a new name",
    );
    for (const run of this.runs.values()) run.stop("heartbeat lapsed");
    this.runs.clear();
    void this.heartbeat?.forget(previous).catch((error: unknown) => this.logger.warn({ err: error, trainer: previous }, "could not remove the old heartbeat"));
  }

  private beat(): void {
    void this.heartbeat?.beat().catch((error: unknown) => this.logger.warn({ err: error }, "heartbeat failed"));
  }

  /**
   * Starts a run under the placement's generation, from the checkpoint the request names (or its
   * seed). Idempotent for the same generation; a run held here under an older one is started anew
   * (that placement is over: whatever it writes now, the evaluator refuses); a stale request for
   * an older generation than the one held is refused.
   */
  async start({ runId, spec: specMessage, generation, resumeFrom }: Pick<StartRunRequest, "runId" | "spec" | "generation" | "resumeFrom">): Promise<number> {
    if (!specMessage) throw invalidArgument("spec", "(absent)", "a RunSpec");
    let spec: ResolvedRunSpec;
    try {
      spec = resolveRunSpec(specMessage);
    } catch (error) {
      if (error instanceof InvalidArgument) throw error.within("spec.");
      throw error;
    }
    if (generation < 1) throw invalidArgument("generation", generation, "a placement generation of 1 or more");
    const running = this.runs.get(runId);
    if (running?.generation === generation) return running.epoch;
    if (running && running.generation > generation) {
      throw new GrpcStatusError(status.ABORTED, `generation is ${generation}; run ${runId} is held here under the newer generation ${running.generation}`);
    }
    if (this.starting.has(runId)) throw new GrpcStatusError(status.ABORTED, `run ${runId} is being started; ask again`);
    if (!running && this.runs.size + this.starting.size >= this.options.maxRuns) {
      throw new GrpcStatusError(status.RESOURCE_EXHAUSTED, `trainer ${this.currentId} is full: ${this.options.maxRuns} run(s) (TRAINER_MAX_RUNS)`);
    }
    this.starting.add(runId);
    try {
      if (running) {
        this.logger.info({ run: runId, epoch: running.epoch, generation: running.generation, now: generation }, "run placed here again under a newer generation: starting it anew");
        running.stop(`superseded by generation ${generation}`);
        await running.done;
        if (this.runs.get(runId) === running) this.runs.delete(runId);
      }
      const start = { ...(await this.startingPoint(runId, spec, resumeFrom)), source: this.epochSource(runId, spec) };
      const run = new ActiveRun(runId, generation, spec, start, {
        nats: this.nats,
        logger: this.logger,
        trainerId: this.currentId,
        leaseValid: () => this.leaseValid(),
        leaseLost: () => this.standDown(this.heartbeat?.lapsedMs ?? Infinity),
        failpoint: (step, epoch) => this.failpointReached(step, epoch),
        metrics: this.metrics,
      });
      this.runs.set(runId, run);
      void run.done.finally(() => {
        if (this.runs.get(runId) === run) this.runs.delete(runId);
        this.beat();
      });
      this.logger.info({ run: runId, epoch: start.epoch, generation, resumed: start.awaitDecisionFor !== undefined, blasThreads: getBlasThreads() }, "run started");
      return start.epoch;
    } finally {
      this.starting.delete(runId);
      this.beat();
    }
  }

  /** Stops the whole process (as a long GC pause or a frozen VM would) where the failpoint says, once. */
  private failpointReached(step: CheckpointStep, epoch: number): void {
    const point = this.options.failpoint;
    if (point?.step !== step || point.epoch !== epoch) return;
    this.options.failpoint = undefined;
    this.logger.warn({ step, epoch }, "failpoint reached: the process stops itself (SIGSTOP) until it is sent SIGCONT");
    process.kill(process.pid, "SIGSTOP");
  }

  private epochSource(runId: string, spec: ResolvedRunSpec): NatsEpochSource {
    return new NatsEpochSource({
      nats: this.nats,
      runId,
      plan: { seed: spec.seed, trainLimit: spec.trainLimit, augment: spec.augment },
      sliceSize: sliceSizeFor(spec.miniBatch, NATS_SLICE_EXAMPLES),
      maxInFlight: this.options.maxSlicesInFlight,
      requestTimeoutMs: this.options.sliceRequestTimeoutMs,
      deliveryTimeoutMs: this.options.sliceDeliveryTimeoutMs,
      // trainEpochFrom trains each slice before it asks for the next, and an epoch's data does
      // not depend on the decision awaited between epochs.
      recycleSlices: true,
      prefetchNextEpoch: true,
      logger: this.logger,
      onRejected: (reason, fields) => this.rejections.reject("augment-replies", reason, fields),
    });
  }

  /**
   * Where the run starts: epoch 0 from its seed, or after the checkpoint the evaluator named (the
   * last epoch it recorded: an epoch stored but never decided on is trained again, to the same bits).
   */
  private async startingPoint(runId: string, spec: ResolvedRunSpec, resumeFrom: CheckpointRef | undefined): Promise<Omit<RunStart, "source">> {
    if (!resumeFrom) {
      return { state: createTrainingState(initialNetwork(spec)), epoch: 0, eta: spec.eta, examplesSeen: 0n };
    }
    const { epoch, generation } = resumeFrom;
    // The epoch's own object when its latest copy is gone (kept by the evaluator if it was the best).
    let name = latestObjectName(runId, epoch, generation);
    let checkpoint = await readCheckpoint(this.nats, name);
    if (!checkpoint) {
      name = checkpointObjectName(runId, epoch, generation);
      checkpoint = await readCheckpoint(this.nats, name);
    }
    if (!checkpoint) throw new CorruptCheckpointError(`no checkpoint of run ${runId}'s epoch ${epoch} (generation ${generation}) to resume from: ${latestObjectName(runId, epoch, generation)} and ${name} are gone`);
    if (checkpoint.runId !== runId || checkpoint.epoch !== epoch) throw new CorruptCheckpointError(`checkpoint ${name} holds run ${checkpoint.runId}'s epoch ${checkpoint.epoch}`);
    const { network, velocities } = decodeCheckpoint(checkpoint.state, `checkpoint ${name}`);
    if (checkpoint.blasThreads !== getBlasThreads()) {
      this.logger.warn({ run: runId, checkpointThreads: checkpoint.blasThreads, blasThreads: getBlasThreads() }, "resuming with another BLAS thread count: not bit-identical to an uninterrupted run");
    }
    return {
      state: createTrainingState(network, velocities ? { velocities } : {}),
      epoch: checkpoint.epoch + 1,
      eta: checkpoint.eta,
      examplesSeen: checkpoint.examplesSeen,
      awaitDecisionFor: checkpoint.epoch,
      resumedFrom: name,
    };
  }

  private get(runId: string): ActiveRun {
    const run = this.runs.get(runId);
    if (!run) throw notFound("run", runId);
    return run;
  }

  /** The request's own faults first (INVALID_ARGUMENT whatever the run), then the run's (NOT_FOUND, OUT_OF_RANGE). */
  decide({ runId, epoch, decision, eta, reason, restoreEpoch, generation, restoreGeneration }: Omit<DecideRequest, "$typeName">): void {
    if (decision !== Decision.CONTINUE && decision !== Decision.DECAY_ETA && decision !== Decision.STOP) {
      throw invalidArgument("decision", decision, "CONTINUE (1), DECAY_ETA (2) or STOP (3)");
    }
    if (decision !== Decision.STOP) checkEta(eta);
    if (restoreEpoch !== undefined && (decision !== Decision.DECAY_ETA || restoreEpoch > epoch)) {
      throw invalidArgument("restoreEpoch", restoreEpoch, `absent, or with DECAY_ETA an epoch up to the decided one (${epoch})`);
    }
    const run = this.get(runId);
    // A decision for another placement of the run (an evaluator behind, or ahead of a StartRun still on its way).
    if (generation !== run.generation) {
      throw new GrpcStatusError(status.FAILED_PRECONDITION, `generation is ${generation}; run ${runId} is held here under generation ${run.generation}`);
    }
    // The evaluator decides on epochs the run has trained (run.epoch is the one in training or
    // awaiting its decision). A later epoch cannot come from it, and would wait in the mailbox for ever.
    if (epoch > run.epoch) {
      throw new GrpcStatusError(status.OUT_OF_RANGE, `epoch is ${epoch}; allowed: an epoch run ${runId} has trained (it is at epoch ${run.epoch})`);
    }
    run.mailbox.deliver(epoch, { decision, eta, reason, restore: restoreEpoch === undefined ? undefined : { epoch: restoreEpoch, generation: restoreGeneration } });
  }

  setLearningRate(runId: string, eta: number): void {
    checkEta(eta);
    this.get(runId).eta = eta;
  }

  pause(runId: string): void {
    this.get(runId).pause();
  }

  resume(runId: string): void {
    this.get(runId).resume();
  }

  async stop(runId: string, reason: string): Promise<void> {
    const run = this.get(runId);
    run.stop(reason || "stopped by request");
    await run.done;
  }

  status(): { runId: string; epoch: number; eta: number; paused: boolean }[] {
    return [...this.runs.values()].map((run) => ({ runId: run.runId, epoch: run.epoch, eta: run.eta, paused: run.paused }));
  }

  /**
   * Shutdown: abandons the epochs in progress and leaves the cluster. The runs stay RUNNING in
   * the evaluator's records until our heartbeat is gone; then they are placed again and resume
   * from their latest checkpoints on another trainer.
   */
  async stopAll(reason: string): Promise<void> {
    for (const run of this.runs.values()) run.stop(reason);
    await Promise.all([...this.runs.values()].map((run) => run.done));
    await this.heartbeat?.stop();
  }
}
