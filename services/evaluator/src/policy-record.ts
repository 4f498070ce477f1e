import { Decision, type EpochMetrics, type RunRecord } from "@mnist/protocol";
import { resolveStopping, watched, type DecisionName, type EpochFigures, type PolicyState, type ResolvedRunSpec, type StoppingRules } from "@mnist/spec";

// The steering policy's rules and memory as a run record keeps them: a restarted evaluator, or a
// second one, reads them from the record and decides as the first would have.

export const decisionOf: Record<DecisionName, Decision> = { continue: Decision.CONTINUE, "decay-eta": Decision.DECAY_ETA, stop: Decision.STOP };
export const decisionName: Partial<Record<Decision, DecisionName>> = { [Decision.CONTINUE]: "continue", [Decision.DECAY_ETA]: "decay-eta", [Decision.STOP]: "stop" };

/** The stopping rules in force: the spec's, as UpdateRun last changed them. */
export function rulesOf(record: RunRecord, spec: ResolvedRunSpec): StoppingRules {
  return record.stopping ? resolveStopping(record.stopping) : spec.stopping;
}

/** An epoch's figures on the run's evaluation data (eval_on): what the stopping rules watch. */
export function evaluationFigures(metrics: EpochMetrics, spec: ResolvedRunSpec): EpochFigures {
  const [accuracy, cost] = spec.evalOn === "test" ? [metrics.testAccuracy, metrics.testCost] : [metrics.valAccuracy, metrics.valCost];
  return { accuracy: accuracy ?? Number.NaN, cost: cost ?? Number.NaN };
}

/**
 * The policy's memory. The best epoch's figure is read under the rules' metric now in force: after
 * a change of metric, later epochs must beat the best epoch's figure under the new one.
 */
export function policyOf(record: RunRecord, spec: ResolvedRunSpec, rules: StoppingRules): PolicyState {
  const best = record.epochs.length > 0 ? record.epochs.find((metrics) => metrics.epoch === record.bestEpoch) : undefined;
  return {
    eta0: spec.eta,
    eta: record.eta || spec.eta,
    best: best ? watched(rules.metric, evaluationFigures(best, spec)) : Number.NaN,
    bestAccuracy: best ? record.bestValAccuracy : -Infinity,
    bestEpoch: best ? record.bestEpoch : -1,
    lastDecayEpoch: record.lastDecayEpoch ?? -1,
    etaHistory: record.etaHistory.length > 0 ? record.etaHistory.map(({ epoch, eta }) => ({ epoch, eta })) : [{ epoch: 0, eta: spec.eta }],
  };
}
