import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { checkpointObjectName, CorruptCheckpointError, deleteCheckpoint, latestObjectName, readCheckpoint } from "@mnist/cluster";
import { decodeCheckpoint, encodeCheckpoint, sliceDataset, type Mnist, type Network } from "@mnist/core";
import { GrpcStatusError, isPermanent, status, statusOf } from "@mnist/grpc";
import { Decision, EpochMetricsSchema, NetworkChoice, RunState, type CheckpointAnnouncement, type EpochMetrics, type RunRecord, type TrainerInfo } from "@mnist/protocol";
import type { Logger, Rejections } from "@mnist/runtime";
import { decideEpoch, isTerminal, resolveRunSpec, score, type DecisionName, type PolicyState, type ResolvedRunSpec } from "@mnist/training";
import type { NatsConnection } from "nats";
import type { Placement } from "./placement.js";
import type { RunStore } from "./run-store.js";
import type { RunControl } from "./run-service.js";

const decisionOf: Record<DecisionName, Decision> = { continue: Decision.CONTINUE, "decay-eta": Decision.DECAY_ETA, stop: Decision.STOP };
const decisionName: Partial<Record<Decision, DecisionName>> = { [Decision.CONTINUE]: "continue", [Decision.DECAY_ETA]: "decay-eta", [Decision.STOP]: "stop" };

/** The policy's memory, kept in the run record so a restarted evaluator decides the same way. */
function policyOf(record: RunRecord, spec: ResolvedRunSpec): PolicyState {
  const started = record.epochs.length > 0;
  return {
    eta0: spec.eta,
    eta: record.eta || spec.eta,
    bestAccuracy: started ? record.bestValAccuracy : -Infinity,
    bestEpoch: started ? record.bestEpoch : -1,
    lastDecayEpoch: record.lastDecayEpoch ?? -1,
    etaHistory: record.etaHistory.length > 0 ? record.etaHistory.map(({ epoch, eta }) => ({ epoch, eta })) : [{ epoch: 0, eta: spec.eta }],
  };
}

function wallSeconds(record: RunRecord): number {
  const from = record.startedAt ?? record.createdAt;
  return from ? (Date.now() - timestampDate(from).getTime()) / 1000 : 0;
}

/**
 * The evaluator's steering: scores every epoch checkpoint on held-out data with the native core,
 * decides with the shared policy (early stopping, eta decay), records the result and tells the
 * trainer. Everything it decides is in the run record before the trainer hears of it, so a
 * restarted evaluator repeats a decision instead of taking a different one.
 */
export class Steering implements RunControl {
  constructor(
    private readonly nats: NatsConnection,
    private readonly store: RunStore,
    private readonly placement: Placement,
    private readonly mnist: Mnist,
    private readonly logger: Logger,
    private readonly rejections: Rejections,
  ) {}

  queued(): void {
    this.placement.kick();
  }

  async handle(announcement: CheckpointAnnouncement): Promise<void> {
    const { runId, epoch } = announcement;
    const record = await this.store.get(runId);
    if (!record) return this.rejections.reject("checkpoints", "unknown-run", { run: runId, epoch });
    // Trainers announce in order, each epoch after the decision on the one before it.
    if (epoch > record.epochs.length) {
      return this.rejections.reject("checkpoints", "out-of-order", { run: runId, epoch, expected: record.epochs.length });
    }
    if (isTerminal(record.state)) {
      await this.tellTrainer(runId, epoch, Decision.STOP, 0, record.stopReason);
      return;
    }
    if (announcement.error) {
      await this.finish(record, RunState.FAILED, `training failed in epoch ${epoch}: ${announcement.error}`, { error: announcement.error });
      return;
    }
    const known = record.epochs.find((metrics) => metrics.epoch === epoch);
    if (known) {
      // Seen before (an evaluator restart, a resumed trainer): repeat the recorded decision.
      await this.tellTrainer(runId, epoch, known.decision, record.eta, record.stopReason);
      return;
    }
    const spec = resolveRunSpec(record.spec!);
    let network: Network;
    try {
      const checkpoint = await readCheckpoint(this.nats, announcement.objectName);
      // A trainer stores the checkpoint before announcing it: without one, no trainer sent this.
      if (!checkpoint) return this.rejections.reject("checkpoints", "no-checkpoint", { run: runId, epoch, object: announcement.objectName });
      network = decodeCheckpoint(checkpoint.state, `checkpoint ${announcement.objectName}`).network;
      const sizes = network.spec.sizes.join(",");
      if (sizes !== spec.sizes.join(",")) throw new CorruptCheckpointError(`checkpoint ${announcement.objectName} holds a [${sizes}] network; the run trains [${spec.sizes.join(",")}]`);
    } catch (error) {
      const known = statusOf(error);
      if (!known || !isPermanent(known.code)) throw error;
      // Stored bytes no retry can mend: the run ends, saying which.
      await this.fail(record, `epoch ${epoch}: ${known.details}`);
      return;
    }
    const metrics = this.measure(network, spec, announcement);
    // Decide from the freshest record: a SetLearningRate may land while we evaluate. If one lands
    // between deciding and writing, the write is refused and we decide again.
    let current = record;
    let decided: ReturnType<typeof decideEpoch> | undefined;
    let updated: RunRecord | undefined;
    let applied = false;
    for (let attempt = 0; !applied; attempt++) {
      if (attempt > 0) {
        const fresh = await this.store.get(runId);
        if (!fresh) return;
        current = fresh;
      }
      const basis = current;
      const { state: policy, decision } = (decided = decideEpoch(policyOf(basis, spec), spec.stopping, epoch, metrics.valAccuracy!, spec.epochs));
      metrics.decision = decisionOf[decision.decision];
      let finalFields: Partial<RunRecord> = {};
      if (decision.decision === "stop") {
        const testAccuracy = decision.improved ? score(network, this.mnist.test, spec).accuracy : await this.bestTestAccuracy(basis);
        finalFields = { testAccuracy, stopReason: decision.reason ?? "stopped" };
      }
      let stale = false;
      updated = await this.store.update(runId, (latest) => {
        if (isTerminal(latest.state) || latest.epochs.some((m) => m.epoch === epoch)) return false;
        if (latest.eta !== basis.eta || latest.etaHistory.length !== basis.etaHistory.length) return ((stale = true), false);
        applied = true;
        latest.epochs.push(metrics);
        latest.bestEpoch = policy.bestEpoch;
        latest.bestValAccuracy = policy.bestAccuracy;
        latest.eta = policy.eta;
        latest.lastDecayEpoch = policy.lastDecayEpoch >= 0 ? policy.lastDecayEpoch : undefined;
        latest.etaHistory = policy.etaHistory.map((change) => ({ $typeName: "mnist.v1.EtaChange", ...change }));
        latest.blasThreads = announcement.blasThreads;
        if (decision.decision === "stop") {
          Object.assign(latest, finalFields);
          latest.state = RunState.FINISHED;
          latest.finishedAt = timestampNow();
          latest.wallSeconds = wallSeconds(latest);
        }
      });
      if (!updated || !stale) break;
    }
    const decision = decided!.decision;
    const previousBest = current.epochs.length > 0 ? current.bestEpoch : -1;
    if (!updated || !applied) return;
    // Keep the best epoch's weights (for export and the final test) and the latest (for resuming).
    if (decision.improved && previousBest >= 0 && previousBest !== epoch) await deleteCheckpoint(this.nats, checkpointObjectName(runId, previousBest));
    if (!decision.improved) await deleteCheckpoint(this.nats, checkpointObjectName(runId, epoch));

    this.logger.info({ run: runId, ...this.logFields(metrics), decision: decision.decision }, "epoch");
    if (updated.state === RunState.FINISHED) {
      this.logger.info(
        { run: runId, testAccuracy: updated.testAccuracy, bestEpoch: updated.bestEpoch, bestValAccuracy: updated.bestValAccuracy, stopReason: updated.stopReason, wallSeconds: updated.wallSeconds },
        "run finished",
      );
      this.placement.kick();
    }
    await this.tellTrainer(runId, epoch, metrics.decision, updated.eta, updated.stopReason);
  }

  private measure(network: Network, spec: ResolvedRunSpec, announcement: CheckpointAnnouncement): EpochMetrics {
    const validation = score(network, this.mnist.validation, spec);
    const metrics = create(EpochMetricsSchema, {
      runId: announcement.runId,
      epoch: announcement.epoch,
      eta: announcement.eta,
      trainSeconds: announcement.trainSeconds,
      imagesPerSecond: announcement.imagesPerSecond,
      valAccuracy: validation.accuracy,
      valCost: validation.cost,
    });
    if (spec.monitor.trainCost || spec.monitor.trainAccuracy) {
      const training = spec.trainLimit > 0 ? sliceDataset(this.mnist.training, 0, spec.trainLimit) : this.mnist.training;
      const train = score(network, training, spec);
      if (spec.monitor.trainCost) metrics.trainCost = train.cost;
      if (spec.monitor.trainAccuracy) metrics.trainAccuracy = train.accuracy;
    }
    if (spec.monitor.testAccuracy || spec.evalOn === "test") metrics.testAccuracy = score(network, this.mnist.test, spec).accuracy;
    return metrics;
  }

  private logFields(metrics: EpochMetrics) {
    const { epoch, eta, valAccuracy, valCost, trainCost, trainAccuracy, testAccuracy, trainSeconds, imagesPerSecond } = metrics;
    const fields: Record<string, number> = { epoch, eta, valAccuracy: valAccuracy!, valCost: valCost! };
    if (trainCost !== undefined) fields.trainCost = trainCost;
    if (trainAccuracy !== undefined) fields.trainAccuracy = trainAccuracy;
    if (testAccuracy !== undefined) fields.testAccuracy = testAccuracy;
    return { ...fields, trainSeconds, imagesPerSecond };
  }

  private async loadNetwork(runId: string, epoch: number | "latest"): Promise<Network> {
    const name = epoch === "latest" ? latestObjectName(runId) : checkpointObjectName(runId, epoch);
    const checkpoint = await readCheckpoint(this.nats, name);
    if (!checkpoint) throw new GrpcStatusError(status.NOT_FOUND, `checkpoint ${name} not found`);
    return decodeCheckpoint(checkpoint.state, `checkpoint ${name}`).network;
  }

  /**
   * Sends a decision to the trainer that holds the run, once. A decision that does not arrive
   * (a trainer too busy to answer, an evaluator that died before sending) is not lost: the
   * record holds it and resendDecisions repeats it on every placement pass; trainers ignore
   * decisions they already have.
   */
  async tellTrainer(runId: string, epoch: number, decision: Decision, eta: number, reason: string, trainer?: TrainerInfo): Promise<void> {
    const record = trainer ? undefined : await this.store.get(runId);
    const holder = trainer ?? (record && (await this.placement.trainerOf(record)));
    if (!holder) return;
    try {
      await this.placement.trainer(holder.address).decide({ runId, epoch, decision, eta, reason }, { timeoutMs: 5_000 });
    } catch (error) {
      if (error instanceof GrpcStatusError && error.code === status.NOT_FOUND) return;
      this.logger.warn({ run: runId, epoch, decision: decisionName[decision], err: error }, "decision not delivered yet; it is repeated");
    }
  }

  /** Repeats the last decision of every running run to its trainer (see tellTrainer). */
  async resendDecisions(runs: RunRecord[], trainers: TrainerInfo[]): Promise<void> {
    for (const run of runs) {
      const last = run.epochs.at(-1);
      const trainer = trainers.find((candidate) => candidate.trainerId === run.trainerId);
      if (run.state !== RunState.RUNNING || !last || !trainer) continue;
      await this.tellTrainer(run.runId, last.epoch, last.decision, run.eta, run.stopReason, trainer);
    }
  }

  /** After a (re)placement: a resumed run waits for the decision on the epoch it resumed from. */
  async placed(run: RunRecord, startEpoch: number): Promise<void> {
    if (startEpoch === 0) return;
    const decided = run.epochs.find((metrics) => metrics.epoch === startEpoch - 1);
    if (decided) await this.tellTrainer(run.runId, decided.epoch, decided.decision, run.eta, run.stopReason);
  }

  /** Ends a run that cannot be trained, with the reason in its record. */
  async fail(run: RunRecord, reason: string): Promise<RunRecord> {
    return this.finish(run, RunState.FAILED, reason, { error: reason });
  }

  private async finish(record: RunRecord, state: RunState, reason: string, extra: Partial<RunRecord> = {}): Promise<RunRecord> {
    const testAccuracy = record.epochs.length > 0 ? await this.bestTestAccuracy(record) : undefined;
    const updated =
      (await this.store.update(record.runId, (current) => {
        if (isTerminal(current.state)) return false;
        Object.assign(current, extra);
        current.state = state;
        current.stopReason = reason;
        current.testAccuracy = testAccuracy;
        current.finishedAt = timestampNow();
        current.wallSeconds = wallSeconds(current);
      })) ?? record;
    const log = state === RunState.FAILED ? this.logger.error.bind(this.logger) : this.logger.info.bind(this.logger);
    log({ run: record.runId, testAccuracy, bestEpoch: updated.bestEpoch, stopReason: reason, wallSeconds: updated.wallSeconds }, "run finished");
    this.placement.kick();
    return updated;
  }

  /** The best epoch's test accuracy; undefined, and said, when its checkpoint cannot be read. */
  private async bestTestAccuracy(record: RunRecord): Promise<number | undefined> {
    try {
      return score(await this.loadNetwork(record.runId, record.bestEpoch), this.mnist.test, resolveRunSpec(record.spec!)).accuracy;
    } catch (error) {
      const known = statusOf(error);
      if (!known || !isPermanent(known.code)) throw error;
      this.logger.warn({ run: record.runId, epoch: record.bestEpoch, err: error }, "best epoch not scored on the test set");
      return undefined;
    }
  }

  async stop(run: RunRecord, reason: string): Promise<RunRecord> {
    const updated = await this.finish(run, RunState.STOPPED, reason);
    const trainer = run.state === RunState.RUNNING ? await this.placement.trainerOf(run) : undefined;
    if (trainer) {
      await this.placement
        .trainer(trainer.address)
        .stopTraining({ runId: run.runId, reason }, { timeoutMs: 30_000 })
        .catch((error: unknown) => this.logger.warn({ run: run.runId, err: error }, "trainer did not confirm the stop"));
    }
    return updated;
  }

  /**
   * The new rate travels with the next decision, so the schedule stays in step: a running run's
   * current epoch keeps its rate and the change applies from the epoch after it; a run that has
   * not started yet starts with it.
   */
  async setLearningRate(run: RunRecord, eta: number): Promise<RunRecord> {
    const from = run.state === RunState.RUNNING ? run.epochs.length + 1 : run.epochs.length;
    const updated = await this.store.update(run.runId, (current) => {
      current.eta = eta;
      current.etaHistory = [...current.etaHistory.filter((change) => change.epoch < from), { $typeName: "mnist.v1.EtaChange", epoch: from, eta }];
      if (from === 0 && current.spec) current.spec.eta = eta;
    });
    this.logger.info({ run: run.runId, eta, fromEpoch: from }, "learning rate set");
    return updated ?? run;
  }

  async network(run: RunRecord, choice: NetworkChoice): Promise<{ epoch: number; bytes: Uint8Array }> {
    if (run.epochs.length === 0) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${run.runId} has no trained epoch yet`);
    const last = choice === NetworkChoice.LAST;
    const network = await this.loadNetwork(run.runId, last ? "latest" : run.bestEpoch);
    return { epoch: last ? run.epochs.at(-1)!.epoch : run.bestEpoch, bytes: encodeCheckpoint(network) };
  }
}
