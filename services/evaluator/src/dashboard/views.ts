// What the dashboard's browser code receives: plain JSON made from the run records, with names
// for enums ("finished", "decay") and the epoch fields as the evaluator's log names them.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { DecisionSchema, enumValueName, RunEventKindSchema, RunStateSchema, type Decision, type RunEventKind, type RunState, type AugmentReplicaStats, type EpochMetrics, type EpochProgress, type RunProgress, type RunRecord, type TrainerInfo } from "@mnist/protocol";
import { augmentLabel, resolveRunSpec, trainingExtras, type ResolvedRunSpec } from "@mnist/spec";

// The JSON's types are the page's own (web-src/api.ts): one definition for both ends.
import type { ClusterView, EpochView, HyperParameters, ProgressView, RunDetail, RunSummary, StateName } from "../../web-src/api.js";

export type { ClusterView, EpochView, HyperParameters, ProgressView, RunDetail, RunSummary, StateName };

// Enum values by the names every JSON output uses (toNamedJson's): "finished", "decay-eta", "requeue".
const stateName = (state: RunState) => enumValueName(RunStateSchema, state) as StateName;
const decisionName = (decision: Decision) => enumValueName(DecisionSchema, decision);
const eventName = (kind: RunEventKind) => enumValueName(RunEventKindSchema, kind);

const optional = (value: number | undefined) => (value === undefined ? null : value);

function resolved(record: RunRecord): ResolvedRunSpec | undefined {
  try {
    return resolveRunSpec(record.spec!);
  } catch {
    // A stored spec that no longer resolves is shown without its hyper-parameters.
    return undefined;
  }
}

function hyperParameters(spec: ResolvedRunSpec): HyperParameters {
  return {
    sizes: spec.sizes,
    cost: spec.cost,
    activation: spec.activation,
    init: spec.init,
    eta: spec.eta,
    lambda: spec.lambda,
    l1: spec.l1,
    dropout: spec.dropout,
    momentum: spec.momentum,
    nesterov: spec.nesterov,
    miniBatch: spec.miniBatch,
    epochs: spec.epochs,
    trainLimit: spec.trainLimit,
    augment: augmentLabel(spec.augment),
    seed: spec.seed.toString(),
    evalOn: spec.evalOn,
    decayAfter: spec.stopping.decayAfter,
    earlyStop: spec.stopping.earlyStopPatience,
  };
}

export function runSummary(record: RunRecord): RunSummary {
  const spec = resolved(record);
  const scored = record.epochs.length > 0;
  return {
    id: record.runId,
    name: record.spec?.name ?? "",
    state: stateName(record.state),
    paused: record.paused,
    sweep: record.sweepId,
    network: [(record.spec?.sizes ?? []).join("-"), ...(spec ? trainingExtras(spec) : [])].join(", "),
    epochs: record.epochs.length,
    maxEpochs: spec?.epochs ?? 0,
    bestEpoch: scored ? record.bestEpoch : null,
    bestValAccuracy: scored ? record.bestValAccuracy : null,
    testAccuracy: optional(record.testAccuracy),
    eta: record.eta,
    trainer: record.trainerId,
    stopReason: record.stopReason,
    error: record.error,
    createdAt: record.createdAt ? timestampMs(record.createdAt) : null,
    hyper: spec ? hyperParameters(spec) : null,
  };
}

export function epochView(metrics: EpochMetrics): EpochView {
  return {
    epoch: metrics.epoch,
    eta: metrics.eta,
    trainSeconds: metrics.trainSeconds,
    imagesPerSecond: metrics.imagesPerSecond,
    valAccuracy: optional(metrics.valAccuracy),
    valCost: optional(metrics.valCost),
    trainCost: optional(metrics.trainCost),
    trainAccuracy: optional(metrics.trainAccuracy),
    testAccuracy: optional(metrics.testAccuracy),
    testCost: optional(metrics.testCost),
    decision: decisionName(metrics.decision),
    restoreEpoch: optional(metrics.restoreEpoch),
  };
}

export function runDetail(record: RunRecord): RunDetail {
  return {
    ...runSummary(record),
    epochList: record.epochs.map(epochView),
    etaHistory: record.etaHistory.map(({ epoch, eta }) => ({ epoch, eta })),
    events: record.events.map((event) => ({
      time: event.time ? timestampMs(event.time) : null,
      epoch: event.epoch,
      kind: eventName(event.kind),
      reason: event.reason,
      actor: event.actor,
      detail: event.detail,
    })),
    startedAt: record.startedAt ? timestampMs(record.startedAt) : null,
    finishedAt: record.finishedAt ? timestampMs(record.finishedAt) : null,
    wallSeconds: record.wallSeconds,
    evalOn: resolved(record)?.evalOn ?? "validation",
  };
}

/** A trainer's report with the times left as RunService's answers estimate them (`estimated`). */
export function progressView(progress: EpochProgress, estimated: RunProgress): ProgressView {
  return {
    id: progress.runId,
    epoch: progress.epoch,
    examples: progress.examples,
    total: progress.total,
    imagesPerSecond: progress.imagesPerSecond,
    share: estimated.epochShare,
    epochSecondsLeft: estimated.epochSecondsLeft,
    capSecondsLeft: estimated.capSecondsLeft,
  };
}

export function clusterView(trainers: readonly TrainerInfo[], replicas: readonly AugmentReplicaStats[]): ClusterView {
  return {
    trainers: trainers.map((trainer) => ({ id: trainer.trainerId, address: trainer.address, capacity: trainer.maxRuns, runs: [...trainer.runIds] })),
    augment: replicas.map((replica) => ({
      id: replica.replicaId,
      imagesPerSecond: replica.imagesPerSecond,
      imagesServed: Number(replica.imagesServed),
      slicesServed: Number(replica.slicesServed),
      queued: replica.queued,
      inFlight: replica.inFlight,
      rejected: Number(replica.rejected),
      concurrency: replica.concurrency,
    })),
  };
}
