import { Heartbeat, readLatestCheckpoint, reannounceCheckpoint } from "@mnist/cluster";
import { createTrainingState, decodeCheckpoint, getBlasThreads } from "@mnist/core";
import { NatsEpochSource } from "@mnist/stream";
import { GrpcStatusError, notFound, status } from "@mnist/grpc";
import { InvalidArgument, invalidArgument } from "@mnist/errors";
import { Decision, type DecideRequest, type RunSpec } from "@mnist/protocol";
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
    return this.runs.size + this.starting.size;
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
        runIds: [...this.runs.keys(), ...this.starting],
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

  /** Starts a run, or resumes it from its latest checkpoint; idempotent for a run already here (with a valid spec). */
  async start(runId: string, specMessage: RunSpec | undefined): Promise<number> {
    if (!specMessage) throw invalidArgument("spec", "(absent)", "a RunSpec");
    let spec: ResolvedRunSpec;
    try {
      spec = resolveRunSpec(specMessage);
    } catch (error) {
      if (error instanceof InvalidArgument) throw error.within("spec.");
      throw error;
    }
    const running = this.runs.get(runId);
    if (running) return running.epoch;
    if (this.starting.has(runId)) throw new GrpcStatusError(status.ABORTED, `run ${runId} is being started; ask again`);
    if (this.runs.size + this.starting.size >= this.options.maxRuns) {
      throw new GrpcStatusError(status.RESOURCE_EXHAUSTED, `trainer ${this.currentId} is full: ${this.options.maxRuns} run(s) (TRAINER_MAX_RUNS)`);
    }
    this.starting.add(runId);
    try {
      const start = { ...(await this.startingPoint(runId, spec)), source: this.epochSource(runId, spec) };
      const run = new ActiveRun(runId, spec, start, {
        nats: this.nats,
        logger: this.logger,
        trainerId: this.currentId,
        leaseValid: () => this.leaseValid(),
        leaseLost: () => this.standDown(this.heartbeat?.lapsedMs ?? Infinity),
        metrics: this.metrics,
      });
      this.runs.set(runId, run);
      void run.done.finally(() => {
        if (this.runs.get(runId) === run) this.runs.delete(runId);
        this.beat();
      });
      this.logger.info({ run: runId, epoch: start.epoch, resumed: start.awaitDecisionFor !== undefined, blasThreads: getBlasThreads() }, "run started");
      return start.epoch;
    } finally {
      this.starting.delete(runId);
      this.beat();
    }
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

  /** Where the run starts: epoch 0 from its seed, or after its latest checkpoint. */
  private async startingPoint(runId: string, spec: ResolvedRunSpec): Promise<Omit<RunStart, "source">> {
    const latest = await readLatestCheckpoint(this.nats, runId);
    if (!latest) {
      return { state: createTrainingState(initialNetwork(spec)), epoch: 0, eta: spec.eta, examplesSeen: 0n };
    }
    const { checkpoint } = latest;
    const { network, velocities } = decodeCheckpoint(checkpoint.state, `checkpoint ${latest.name}`);
    if (checkpoint.blasThreads !== getBlasThreads()) {
      this.logger.warn({ run: runId, checkpointThreads: checkpoint.blasThreads, blasThreads: getBlasThreads() }, "resuming with another BLAS thread count: not bit-identical to an uninterrupted run");
    }
    // In case the last trainer stored the checkpoint but died before announcing it.
    await reannounceCheckpoint(this.nats, checkpoint, this.currentId);
    return {
      state: createTrainingState(network, velocities ? { velocities } : {}),
      epoch: checkpoint.epoch + 1,
      eta: checkpoint.eta,
      examplesSeen: checkpoint.examplesSeen,
      awaitDecisionFor: checkpoint.epoch,
    };
  }

  private get(runId: string): ActiveRun {
    const run = this.runs.get(runId);
    if (!run) throw notFound("run", runId);
    return run;
  }

  /** The request's own faults first (INVALID_ARGUMENT whatever the run), then the run's (NOT_FOUND, OUT_OF_RANGE). */
  decide({ runId, epoch, decision, eta, reason, restoreEpoch }: Omit<DecideRequest, "$typeName">): void {
    if (decision !== Decision.CONTINUE && decision !== Decision.DECAY_ETA && decision !== Decision.STOP) {
      throw invalidArgument("decision", decision, "CONTINUE (1), DECAY_ETA (2) or STOP (3)");
    }
    if (decision !== Decision.STOP) checkEta(eta);
    if (restoreEpoch !== undefined && (decision !== Decision.DECAY_ETA || restoreEpoch > epoch)) {
      throw invalidArgument("restoreEpoch", restoreEpoch, `absent, or with DECAY_ETA an epoch up to the decided one (${epoch})`);
    }
    const run = this.get(runId);
    // The evaluator decides on epochs the run has trained (run.epoch is the one in training or
    // awaiting its decision). A later epoch cannot come from it, and would wait in the mailbox for ever.
    if (epoch > run.epoch) {
      throw new GrpcStatusError(status.OUT_OF_RANGE, `epoch is ${epoch}; allowed: an epoch run ${runId} has trained (it is at epoch ${run.epoch})`);
    }
    run.mailbox.deliver(epoch, { decision, eta, reason, restoreEpoch });
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
