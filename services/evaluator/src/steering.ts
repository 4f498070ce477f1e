import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { checkpointObjectName, CorruptCheckpointError, deleteCheckpoint, deleteRunCheckpoints, latestObjectName, readCheckpoint, type TrainerView } from "@mnist/cluster";
import { decodeCheckpoint, encodeCheckpoint, sliceDataset, type Mnist, type Network } from "@mnist/core";
import { GrpcStatusError, isPermanent, status, statusOf } from "@mnist/grpc";
import { Decision, epochJson, EpochMetricsSchema, NetworkChoice, RunEventKind, RunState, type CheckpointAnnouncement, type EpochMetrics, type RunRecord, type TrainerInfo } from "@mnist/protocol";
import type { Logger, Rejections } from "@mnist/runtime";
import {
  decideEpoch,
  isTerminal,
  resolveRunSpec,
  resolveScheduler,
  schedule,
  score,
  type EpochDecision,
  type EpochFigures,
  type PolicyState,
  type ResolvedRunSpec,
  type SchedulerVerdict,
  type StoppingRules,
} from "@mnist/spec";
import type { NatsConnection } from "nats";
import { addEvent, evaluatorActor } from "./audit.js";
import { endedStateName, type EvaluatorMetrics } from "./metrics.js";
import type { PlacementEvents } from "./placement.js";
import { decisionName, decisionOf, evaluationFigures, policyOf, rulesOf } from "./policy-record.js";
import type { RunChange, RunControl } from "./run-service.js";
import type { RunStore } from "./run-store.js";
import { putSweepState, sweepStateOf, type SweepStore } from "./sweep-store.js";
import type { TrainerClients } from "./trainer-clients.js";

function wallSeconds(record: RunRecord): number {
  const from = record.startedAt ?? record.createdAt;
  return from ? (Date.now() - timestampDate(from).getTime()) / 1000 : 0;
}

/** One placement of a run: its trainer and generation (a trainer given a run again starts it anew, unpaused, without the decisions it had). */
const placementOf = (run: RunRecord) => `${run.trainerId}/g${run.generation}`;

const eventOf = { continue: RunEventKind.CONTINUE, "decay-eta": RunEventKind.DECAY, stop: RunEventKind.STOP } as const;

/** A stop's final figure: the best epoch's test accuracy (undefined when its checkpoint is unreadable). */
interface TestScore {
  epoch: number;
  accuracy: number | undefined;
}

/**
 * Writes an epoch's metrics and the policy's decision on it into the record: the epoch, the
 * schedule's state and, on a stop, the final fields.
 */
function recordEpoch(record: RunRecord, metrics: EpochMetrics, policy: PolicyState, decision: EpochDecision, blasThreads: number, test: TestScore | undefined): void {
  const epoch = metrics.epoch;
  record.epochs.push(create(EpochMetricsSchema, { ...metrics, decision: decisionOf[decision.decision], restoreEpoch: decision.restoreEpoch }));
  const reason = decision.reason ?? (decision.improved ? "new best" : "");
  addEvent(record, eventOf[decision.decision], epoch, { reason, detail: decision.decision === "decay-eta" ? `eta=${policy.eta}` : "" });
  if (decision.restoreEpoch !== undefined) addEvent(record, RunEventKind.RESTORE, epoch, { reason: "restore_best_on_decay", detail: `epoch=${decision.restoreEpoch}` });
  record.bestEpoch = policy.bestEpoch;
  record.bestValAccuracy = policy.bestAccuracy;
  record.eta = policy.eta;
  record.lastDecayEpoch = policy.lastDecayEpoch >= 0 ? policy.lastDecayEpoch : undefined;
  record.etaHistory = policy.etaHistory.map((change) => ({ $typeName: "mnist.v1.EtaChange", ...change }));
  record.blasThreads = blasThreads;
  if (decision.decision !== "stop") return;
  record.testAccuracy = test?.accuracy;
  record.stopReason = decision.reason ?? "stopped";
  record.state = RunState.FINISHED;
  record.finishedAt = timestampNow();
  record.wallSeconds = wallSeconds(record);
}

/**
 * The evaluator's steering: scores every epoch checkpoint on held-out data with the native core,
 * decides with the shared policy (early stopping, eta decay), records the result and tells the
 * trainer. Everything it decides is in the run record before the trainer hears of it, so a
 * restarted evaluator (or a second one) repeats a decision instead of taking a different one.
 */
export class Steering implements RunControl, PlacementEvents {
  /** The last decision each run's trainer confirmed, as `epoch@placement`: only the others are sent again. */
  private readonly delivered = new Map<string, string>();
  /** What each run's trainer confirmed of PauseRun/ResumeRun: "paused@placement" or "going@placement". */
  private readonly pauseHeld = new Map<string, string>();

  constructor(
    private readonly nats: NatsConnection,
    private readonly store: RunStore,
    private readonly trainers: TrainerView,
    private readonly clients: TrainerClients,
    private readonly mnist: Mnist,
    private readonly logger: Logger,
    private readonly rejections: Rejections,
    private readonly sweeps: SweepStore,
    private readonly metrics: EvaluatorMetrics,
  ) {}

  /**
   * One checkpoint announcement, top to bottom: refuse what no trainer sent, repeat a decision
   * already taken, score the checkpoint, decide and record in one compare-and-set write, tidy the
   * checkpoints, tell the trainer.
   */
  async handle(announcement: CheckpointAnnouncement): Promise<void> {
    const { runId, epoch, generation } = announcement;
    const record = await this.store.get(runId);
    if (!record) return this.rejections.reject("checkpoints", "unknown-run", { run: runId, epoch });
    // Fencing: a placement the run has moved on from (a trainer that woke after its lease lapsed,
    // an evaluator's StartRun that was superseded) wrote this; its holder is someone else now.
    if (generation !== record.generation) {
      this.rejections.reject("checkpoints", "stale-generation", { run: runId, epoch, generation, current: record.generation, trainer: announcement.trainerId });
      return this.removeSuperseded(record, announcement);
    }
    // Trainers announce in order, each epoch after the decision on the one before it.
    if (epoch > record.epochs.length) return this.rejections.reject("checkpoints", "out-of-order", { run: runId, epoch, expected: record.epochs.length });
    if (isTerminal(record.state)) return this.tellTrainer(record, epoch, Decision.STOP);
    if (announcement.error) {
      await this.finish(record, RunState.FAILED, `training failed in epoch ${epoch}: ${announcement.error}`, evaluatorActor, { error: announcement.error });
      return;
    }
    // Seen before (an evaluator restart, a resumed trainer): repeat the recorded decision.
    if (record.epochs.some((metrics) => metrics.epoch === epoch)) return this.tellTrainer(record, epoch);

    const spec = resolveRunSpec(record.spec!);
    const network = await this.checkpointNetwork(record, announcement, spec);
    if (!network) return;
    const metrics = this.measure(network, spec, announcement);
    const recorded = await this.decideAndRecord(record, metrics, spec, network, announcement.blasThreads);
    if (!recorded) {
      // Recorded meanwhile by someone else (a second evaluator, a stop): repeat what the record says.
      const latest = await this.store.get(runId);
      if (latest) await this.tellTrainer(latest, epoch);
      return;
    }
    const { record: updated, decision, previousBest } = recorded;
    // Keep the best epoch's weights (for export and the final test) and the latest (for resuming).
    const previousBestRef = updated.epochs.find((known) => known.epoch === previousBest);
    if (decision.improved && previousBestRef && previousBest !== epoch) await deleteCheckpoint(this.nats, checkpointObjectName(runId, previousBest, previousBestRef.generation));
    if (!decision.improved) await deleteCheckpoint(this.nats, announcement.objectName);
    this.logger.info({ run: runId, ...epochJson(metrics), decision: decision.decision }, "epoch");
    this.metrics.decisions.inc({ decision: decision.decision });
    // Not for a run that ended meanwhile (a stop while the checkpoints were tidied): its gauge is gone for good.
    if (this.store.isActive(runId)) this.metrics.valAccuracy.set({ run: runId }, evaluationFigures(metrics, spec).accuracy);
    if (updated.state === RunState.FINISHED) {
      this.ended(updated);
      const { testAccuracy, bestEpoch, bestValAccuracy, stopReason, wallSeconds } = updated;
      this.logger.info({ run: runId, testAccuracy, bestEpoch, bestValAccuracy, stopReason, wallSeconds }, "run finished");
    }
    await this.tellTrainer(updated, epoch);
  }

  /**
   * Removes the checkpoint a superseded placement announced: no one reads it (unless the record
   * took it while that placement was current: a redelivered announcement, its objects the run's).
   */
  private async removeSuperseded(record: RunRecord, { runId, epoch, generation, error }: CheckpointAnnouncement): Promise<void> {
    if (error || generation >= record.generation || record.epochs.some((known) => known.epoch === epoch && known.generation === generation)) return;
    for (const name of [checkpointObjectName(runId, epoch, generation), latestObjectName(runId, epoch, generation)]) await deleteCheckpoint(this.nats, name);
  }

  /**
   * Decides the epoch from the latest record and writes the decision, in one compare-and-set
   * update: the policy is pure and cheap, so a write that lost a race (a SetLearningRate, another
   * evaluator) decides again on the fresher record. A stop also needs the best epoch's test
   * accuracy: the update asks for it when the best epoch is not the one scored already, and the
   * scoring happens outside it. Undefined when the epoch or the run's end is recorded already.
   */
  private async decideAndRecord(
    run: RunRecord,
    metrics: EpochMetrics,
    spec: ResolvedRunSpec,
    network: Network,
    blasThreads: number,
  ): Promise<{ record: RunRecord; decision: EpochDecision; previousBest: number } | undefined> {
    const { runId } = run;
    const epoch = metrics.epoch;
    const figures = evaluationFigures(metrics, spec);
    // The sweep's scheduler first: it keeps its verdict, so a decision taken again hears the same.
    const verdict = run.sweepId ? await this.scheduled(run, epoch, figures, rulesOf(run, spec), spec) : undefined;
    let test: TestScore | undefined;
    for (;;) {
      let decided: { decision: EpochDecision; previousBest: number } | undefined;
      let testNeeded: number | undefined;
      const record = await this.store.update(runId, (latest) => {
        if (isTerminal(latest.state) || latest.epochs.some((known) => known.epoch === epoch)) return false;
        const rules = rulesOf(latest, spec);
        const before = policyOf(latest, spec, rules);
        let { state: policy, decision } = decideEpoch(before, rules, epoch, figures, spec.epochs);
        if (verdict?.stop && decision.decision !== "stop") {
          // Stopped by the sweep's scheduler: no decay for an epoch that will not train.
          policy = { ...policy, eta: before.eta, lastDecayEpoch: before.lastDecayEpoch, etaHistory: before.etaHistory };
          decision = { decision: "stop", eta: before.eta, improved: decision.improved, reason: verdict.reason };
        }
        if (decision.decision === "stop" && test?.epoch !== policy.bestEpoch) {
          testNeeded = policy.bestEpoch;
          return false;
        }
        decided = { decision, previousBest: before.bestEpoch };
        recordEpoch(latest, metrics, policy, decision, blasThreads, test);
      });
      if (testNeeded === undefined) return record && decided ? { record, ...decided } : undefined;
      test = { epoch: testNeeded, accuracy: testNeeded === epoch ? score(network, this.mnist.test, spec).accuracy : await this.testAccuracy(run, testNeeded, spec) };
    }
  }

  /** A run's end, in the metrics: its final state counted, its accuracy gauge gone. */
  private ended(run: RunRecord): void {
    this.metrics.runsEnded.inc({ state: endedStateName[run.state] ?? "unknown" });
    this.metrics.valAccuracy.remove({ run: run.runId });
  }

  /**
   * Reports the epoch's result to the run's sweep and returns its scheduler's verdict (in the
   * sweep's record first, compare-and-set, so concurrent trials all land). A sweep record that is
   * gone or unreadable stops no trial: the run goes on by its own rules, and it is said.
   */
  private async scheduled(run: RunRecord, epoch: number, figures: EpochFigures, rules: StoppingRules, spec: ResolvedRunSpec): Promise<SchedulerVerdict | undefined> {
    let verdict: SchedulerVerdict | undefined;
    const onCost = rules.metric === "eval-cost";
    const value = onCost ? -figures.cost : figures.accuracy;
    const format = (result: number) => (onCost ? `${spec.evalOn} cost ${(-result).toFixed(4)}` : `${spec.evalOn} accuracy ${(result * 100).toFixed(2)}%`);
    const updated = await this.sweeps.update(run.sweepId, (sweep) => {
      let scheduler;
      try {
        scheduler = resolveScheduler(sweep.scheduler);
      } catch (error) {
        this.logger.warn({ run: run.runId, sweep: run.sweepId, err: error }, "the sweep's scheduler does not resolve: it cannot judge the run");
        return false;
      }
      const step = schedule(sweepStateOf(sweep), scheduler, run.runId, epoch, value, spec.epochs, format);
      verdict = step.verdict;
      putSweepState(sweep, step.state);
    });
    if (!updated) this.logger.warn({ run: run.runId, epoch, sweep: run.sweepId }, "the run's sweep record is gone: its scheduler cannot judge the run");
    return verdict;
  }

  /**
   * The announced checkpoint's network, checked against the run's shape. Undefined when there is
   * none (no trainer announced this: refused and counted) or when it cannot be read (the run fails,
   * saying which: no retry mends stored bytes).
   */
  private async checkpointNetwork(record: RunRecord, announcement: CheckpointAnnouncement, spec: ResolvedRunSpec): Promise<Network | undefined> {
    const { runId, epoch, objectName } = announcement;
    try {
      const checkpoint = await readCheckpoint(this.nats, objectName);
      // A trainer stores the checkpoint before announcing it: without one, no trainer sent this.
      if (!checkpoint) return void this.rejections.reject("checkpoints", "no-checkpoint", { run: runId, epoch, object: objectName });
      if (checkpoint.runId !== runId || checkpoint.epoch !== epoch || checkpoint.generation !== announcement.generation) {
        throw new CorruptCheckpointError(`checkpoint ${objectName} holds run ${checkpoint.runId}'s epoch ${checkpoint.epoch} of generation ${checkpoint.generation}`);
      }
      const { network } = decodeCheckpoint(checkpoint.state, `checkpoint ${objectName}`);
      const [sizes, expected] = [network.spec.sizes.join(","), spec.sizes.join(",")];
      if (sizes !== expected) throw new CorruptCheckpointError(`checkpoint ${objectName} holds a [${sizes}] network; the run trains [${expected}]`);
      return network;
    } catch (error) {
      const known = statusOf(error);
      if (!known || !isPermanent(known.code)) throw error;
      await this.fail(record, `epoch ${epoch}: ${known.details}`);
      return undefined;
    }
  }

  private measure(network: Network, spec: ResolvedRunSpec, announcement: CheckpointAnnouncement): EpochMetrics {
    const validation = score(network, this.mnist.validation, spec);
    const metrics = create(EpochMetricsSchema, {
      runId: announcement.runId,
      epoch: announcement.epoch,
      eta: announcement.eta,
      trainSeconds: announcement.trainSeconds,
      imagesPerSecond: announcement.imagesPerSecond,
      generation: announcement.generation,
      valAccuracy: validation.accuracy,
      valCost: validation.cost,
    });
    if (spec.monitor.trainCost || spec.monitor.trainAccuracy) {
      const training = spec.trainLimit > 0 ? sliceDataset(this.mnist.training, 0, spec.trainLimit) : this.mnist.training;
      const train = score(network, training, spec);
      if (spec.monitor.trainCost) metrics.trainCost = train.cost;
      if (spec.monitor.trainAccuracy) metrics.trainAccuracy = train.accuracy;
    }
    if (spec.monitor.testAccuracy || spec.evalOn === "test") {
      const test = score(network, this.mnist.test, spec);
      metrics.testAccuracy = test.accuracy;
      if (spec.evalOn === "test") metrics.testCost = test.cost;
    }
    return metrics;
  }

  /** An epoch's network from its checkpoint: the epoch's own object, or for `last` the run's latest copy (the evaluator keeps only the best epoch's own). */
  private async loadNetwork(run: RunRecord, epoch: number, last = false): Promise<Network> {
    const generation = run.epochs.find((known) => known.epoch === epoch)?.generation ?? 0;
    const own = checkpointObjectName(run.runId, epoch, generation);
    for (const name of last ? [latestObjectName(run.runId, epoch, generation), own] : [own]) {
      const checkpoint = await readCheckpoint(this.nats, name);
      if (checkpoint) return decodeCheckpoint(checkpoint.state, `checkpoint ${name}`).network;
    }
    throw new GrpcStatusError(status.NOT_FOUND, `checkpoint of run ${run.runId}'s ${last ? "last epoch" : `epoch ${epoch}`} not found`);
  }

  /** An epoch's test accuracy; undefined, and said, when its checkpoint cannot be read. */
  private async testAccuracy(run: RunRecord, epoch: number, spec: ResolvedRunSpec): Promise<number | undefined> {
    try {
      return score(await this.loadNetwork(run, epoch), this.mnist.test, spec).accuracy;
    } catch (error) {
      const known = statusOf(error);
      if (!known || !isPermanent(known.code)) throw error;
      this.logger.warn({ run: run.runId, epoch, err: error }, "best epoch not scored on the test set");
      return undefined;
    }
  }

  /**
   * Sends the trainer that holds the run its decision on `epoch` (by default, the one the record
   * holds). A decision that does not arrive (a trainer too busy to answer, an evaluator that died
   * before sending) is not lost: the record holds it and every placement pass repeats the ones no
   * trainer has confirmed; trainers ignore decisions they already have.
   */
  private async tellTrainer(run: RunRecord, epoch: number, decision?: Decision): Promise<void> {
    const holder = this.trainers.find(run.trainerId);
    if (!holder) return;
    const recorded = run.epochs.find((metrics) => metrics.epoch === epoch);
    const verdict = decision ?? recorded?.decision;
    if (verdict === undefined) return;
    try {
      const restoreEpoch = verdict === Decision.STOP ? undefined : recorded?.restoreEpoch;
      const restoreGeneration = run.epochs.find((known) => known.epoch === restoreEpoch)?.generation ?? 0;
      const request = { runId: run.runId, epoch, decision: verdict, eta: run.eta, reason: run.stopReason, restoreEpoch, restoreGeneration, generation: run.generation };
      await this.clients.of(holder).decide(request, { timeoutMs: 5_000 });
      this.delivered.set(run.runId, `${epoch}@${placementOf(run)}`);
    } catch (error) {
      if (error instanceof GrpcStatusError && error.code === status.NOT_FOUND) return;
      this.logger.warn({ run: run.runId, epoch, decision: decisionName[verdict], err: error }, "decision not delivered yet; it is repeated");
    }
  }

  /** End of a placement pass: repeats each running run's last decision that its trainer has not confirmed. */
  async passed(running: RunRecord[], trainers: TrainerInfo[]): Promise<void> {
    const ids = new Set(running.map((run) => run.runId));
    for (const runId of this.delivered.keys()) if (!ids.has(runId)) this.delivered.delete(runId);
    for (const runId of this.pauseHeld.keys()) if (!ids.has(runId)) this.pauseHeld.delete(runId);
    for (const run of running) {
      if (!trainers.some((trainer) => trainer.trainerId === run.trainerId)) continue;
      await this.holdAsRecorded(run);
      const last = run.epochs.at(-1);
      if (last && this.delivered.get(run.runId) !== `${last.epoch}@${placementOf(run)}`) await this.tellTrainer(run, last.epoch);
    }
  }

  /** After a (re)placement: a paused run stays paused; a resumed run waits for the decision on the epoch it resumed from. */
  async placed(run: RunRecord, startEpoch: number): Promise<void> {
    await this.holdAsRecorded(run);
    if (startEpoch > 0 && run.epochs.some((metrics) => metrics.epoch === startEpoch - 1)) await this.tellTrainer(run, startEpoch - 1);
  }

  /**
   * Tells the run's trainer to pause or resume it as its record says, unless that trainer has
   * confirmed so already; repeated after every placement pass until it has (a new trainer, a
   * restarted evaluator, a lost call).
   */
  private async holdAsRecorded(run: RunRecord): Promise<void> {
    const holder = this.trainers.find(run.trainerId);
    const wanted = `${run.paused ? "paused" : "going"}@${placementOf(run)}`;
    if (!holder || this.pauseHeld.get(run.runId) === wanted || (!run.paused && !this.pauseHeld.has(run.runId))) return;
    try {
      const call = run.paused ? this.clients.of(holder).pauseRun({ runId: run.runId }, { timeoutMs: 5_000 }) : this.clients.of(holder).resumeRun({ runId: run.runId }, { timeoutMs: 5_000 });
      await call;
      this.pauseHeld.set(run.runId, wanted);
    } catch (error) {
      this.logger.warn({ run: run.runId, paused: run.paused, err: error }, "pause or resume not delivered yet; it is repeated");
    }
  }

  async pause(run: RunRecord, paused: boolean, reason: string, actor: string): Promise<RunRecord> {
    let ended = false;
    const updated = await this.store.update(run.runId, (current) => {
      if (isTerminal(current.state)) {
        ended = true;
        return false;
      }
      if (current.paused === paused) return false;
      current.paused = paused;
      addEvent(current, paused ? RunEventKind.PAUSE : RunEventKind.RESUME, current.epochs.length, { actor, reason });
    });
    if (ended || !updated) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(run.runId)} has already ended`);
    this.logger.info({ run: run.runId, actor, reason: reason || undefined }, paused ? "run paused" : "run resumed");
    // A pause this evaluator did not send (an earlier one did, before a restart) may hold the trainer still: resume regardless.
    if (!paused && !this.pauseHeld.has(run.runId)) this.pauseHeld.set(run.runId, `paused@${placementOf(updated)}`);
    if (updated.state === RunState.RUNNING) await this.holdAsRecorded(updated);
    return updated;
  }

  /** A trainer refused the run for good: it fails, with the reason in its record. */
  async refused(run: RunRecord, reason: string): Promise<void> {
    await this.fail(run, reason);
  }

  /** Ends a run that cannot be trained, with the reason in its record. */
  async fail(run: RunRecord, reason: string): Promise<RunRecord> {
    return this.finish(run, RunState.FAILED, reason, evaluatorActor, { error: reason });
  }

  private async finish(record: RunRecord, state: RunState, reason: string, actor: string, extra: Partial<RunRecord> = {}): Promise<RunRecord> {
    const testAccuracy = record.epochs.length > 0 ? await this.finalTestAccuracy(record) : undefined;
    const updated =
      (await this.store.update(record.runId, (current) => {
        if (isTerminal(current.state)) return false;
        Object.assign(current, extra);
        addEvent(current, state === RunState.FAILED ? RunEventKind.FAIL : RunEventKind.STOP, current.epochs.length, { actor, reason });
        current.state = state;
        current.stopReason = reason;
        current.testAccuracy = testAccuracy;
        current.finishedAt = timestampNow();
        current.wallSeconds = wallSeconds(current);
      })) ?? record;
    if (updated.state === state) this.ended(updated);
    const log = state === RunState.FAILED ? this.logger.error.bind(this.logger) : this.logger.info.bind(this.logger);
    log({ run: record.runId, testAccuracy, bestEpoch: updated.bestEpoch, stopReason: reason, wallSeconds: updated.wallSeconds }, "run finished");
    return updated;
  }

  /** The best epoch's test accuracy for a run that ends early; a spec that no longer resolves has none. */
  private async finalTestAccuracy(record: RunRecord): Promise<number | undefined> {
    let spec: ResolvedRunSpec;
    try {
      spec = resolveRunSpec(record.spec!);
    } catch {
      return undefined;
    }
    return this.testAccuracy(record, record.bestEpoch, spec);
  }

  async stop(run: RunRecord, reason: string, actor: string): Promise<RunRecord> {
    const updated = await this.finish(run, RunState.STOPPED, reason, actor);
    const holder = run.state === RunState.RUNNING ? this.trainers.find(run.trainerId) : undefined;
    if (holder) {
      await this.clients
        .of(holder)
        .stopTraining({ runId: run.runId, reason }, { timeoutMs: 30_000 })
        .catch((error: unknown) => this.logger.warn({ run: run.runId, err: error }, "trainer did not confirm the stop"));
    }
    return updated;
  }

  /**
   * Changes the run's stopping rules and/or eta, with an entry in its audit trail. The rules apply
   * from the next decision on (the epoch in training is judged by them). The new rate travels
   * with the next decision, so the schedule stays in step: a running run's current epoch keeps its
   * rate and the change applies from the epoch after it; a run that has not started yet starts with it.
   */
  async update(run: RunRecord, change: RunChange, actor: string): Promise<RunRecord> {
    let ended = false;
    const updated = await this.store.update(run.runId, (current) => {
      if (isTerminal(current.state)) {
        ended = true;
        return false;
      }
      if (change.stopping) current.stopping = change.stopping;
      const { eta } = change;
      if (eta !== undefined) {
        const from = current.state === RunState.RUNNING ? current.epochs.length + 1 : current.epochs.length;
        current.eta = eta;
        current.etaHistory = [...current.etaHistory.filter((known) => known.epoch < from), { $typeName: "mnist.v1.EtaChange", epoch: from, eta }];
        if (from === 0 && current.spec) current.spec.eta = eta;
      }
      addEvent(current, RunEventKind.CHANGE, current.epochs.length, { actor, reason: change.reason, detail: change.detail });
    });
    if (ended || !updated) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(run.runId)} has already ended`);
    this.logger.info({ run: run.runId, change: change.detail, actor, reason: change.reason || undefined }, "run changed");
    return updated;
  }

  async deleteCheckpoints(runId: string): Promise<number> {
    const deleted = await deleteRunCheckpoints(this.nats, runId);
    this.logger.info({ run: runId, checkpoints: deleted }, "run deleted");
    return deleted;
  }

  async network(run: RunRecord, choice: NetworkChoice): Promise<{ epoch: number; bytes: Uint8Array }> {
    if (run.epochs.length === 0) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${run.runId} has no trained epoch yet`);
    const epoch = choice === NetworkChoice.LAST ? run.epochs.at(-1)!.epoch : run.bestEpoch;
    const network = await this.loadNetwork(run, epoch, choice === NetworkChoice.LAST);
    return { epoch, bytes: encodeCheckpoint(network) };
  }
}
