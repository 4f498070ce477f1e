import type { StoppingMetricName, StoppingRules } from "./spec.js";

export type DecisionName = "continue" | "decay-eta" | "stop";

export interface EpochDecision {
  decision: DecisionName;
  /** The learning rate for the next epoch (unchanged unless decay-eta). */
  eta: number;
  /** Why the run stops or eta decays. */
  reason?: string;
  /** True when this epoch is the new best. */
  improved: boolean;
  /** With restoreBestOnDecay, on a decay: the epoch whose weights and velocities the next epoch starts from. */
  restoreEpoch?: number;
}

/** An epoch's figures on the evaluation data. */
export interface EpochFigures {
  accuracy: number;
  cost: number;
}

/** What the policy remembers between epochs; plain data so it can live in a run record or a checkpoint. */
export interface PolicyState {
  eta0: number;
  eta: number;
  /** The best epoch's figure under the watched metric (accuracy or cost). */
  best: number;
  /** The best epoch's accuracy, whatever the metric: what reports show. */
  bestAccuracy: number;
  /** -1 before the first epoch. */
  bestEpoch: number;
  /** The epoch of the last decay, -1 if none: the decay rule counts from it (plus the cooldown). */
  lastDecayEpoch: number;
  etaHistory: { epoch: number; eta: number }[];
}

export function initialPolicyState(eta0: number): PolicyState {
  return { eta0, eta: eta0, best: Number.NaN, bestAccuracy: -Infinity, bestEpoch: -1, lastDecayEpoch: -1, etaHistory: [{ epoch: 0, eta: eta0 }] };
}

/** The figure a metric watches. */
export function watched(metric: StoppingMetricName, figures: EpochFigures): number {
  return metric === "eval-cost" ? figures.cost : figures.accuracy;
}

/** True when `value` beats `best` by more than minDelta (the first epoch always does; NaN never). */
function beats(rules: StoppingRules, value: number, state: PolicyState): boolean {
  if (Number.isNaN(value)) return false;
  if (state.bestEpoch < 0) return true;
  return rules.metric === "eval-cost" ? value < state.best - rules.minDelta : value > state.best + rules.minDelta;
}

/**
 * The chapter's steering, with the knobs of Keras' EarlyStopping and ReduceLROnPlateau, decided
 * once per epoch (epochs count from 0) from the figures on the evaluation data:
 * - improvement: the watched figure (accuracy, or cost) beats the best by more than minDelta;
 * - early stopping: stop when it has not improved for `earlyStopPatience` epochs (the
 *   no-improvement-in-ten rule);
 * - schedule: when it has not improved for `decayAfter` epochs since the best or the last decay
 *   and its cooldown, multiply eta by `decayFactor` (and, with restoreBestOnDecay, go back to the
 *   best epoch's weights); stop once eta would fall to eta0 * minEtaFraction or to minEta;
 * - neither rule counts epochs before startFromEpoch;
 * - with neither rule, or if no rule fires first, stop after `epochs` epochs.
 * Pure: returns the new state, so the same figures always give the same decisions.
 */
export function decideEpoch(
  state: PolicyState,
  rules: StoppingRules,
  epoch: number,
  figures: EpochFigures,
  epochs: number,
): { state: PolicyState; decision: EpochDecision } {
  const value = watched(rules.metric, figures);
  const improved = beats(rules, value, state);
  const next: PolicyState = improved ? { ...state, best: value, bestAccuracy: figures.accuracy, bestEpoch: epoch } : { ...state };
  const decide = (decision: DecisionName, extra: Partial<EpochDecision> = {}) => ({ state: next, decision: { decision, eta: next.eta, improved, ...extra } });

  const plateauFrom = Math.max(next.bestEpoch, rules.startFromEpoch - 1);
  if (rules.earlyStopPatience > 0 && epoch - plateauFrom >= rules.earlyStopPatience) {
    return decide("stop", { reason: `no improvement in ${rules.earlyStopPatience} epochs` });
  }
  if (epoch + 1 >= epochs) return decide("stop", { reason: `completed ${epochs} epochs` });
  const decayFrom = Math.max(plateauFrom, next.lastDecayEpoch < 0 ? -1 : next.lastDecayEpoch + rules.cooldown);
  if (rules.decayAfter > 0 && epoch - decayFrom >= rules.decayAfter) {
    const eta = next.eta * rules.decayFactor;
    // A relative margin, so 0.5^10 lands on 1/1024 despite rounding.
    const margin = 1 + 1e-9;
    if (eta <= next.eta0 * rules.minEtaFraction * margin) {
      return decide("stop", { reason: `learning rate fell to ${formatFraction(rules.minEtaFraction)} of its initial value` });
    }
    if (eta <= rules.minEta * margin) return decide("stop", { reason: `learning rate fell to its floor ${rules.minEta}` });
    next.eta = eta;
    next.lastDecayEpoch = epoch;
    next.etaHistory = [...next.etaHistory, { epoch: epoch + 1, eta }];
    return decide("decay-eta", { reason: `no improvement in ${rules.decayAfter} epochs`, ...(rules.restoreBestOnDecay && next.bestEpoch >= 0 ? { restoreEpoch: next.bestEpoch } : {}) });
  }
  return decide("continue");
}

function formatFraction(fraction: number): string {
  const inverse = 1 / fraction;
  return Number.isInteger(Math.round(inverse * 1e6) / 1e6) ? `1/${Math.round(inverse)}` : String(fraction);
}

/** One epoch of a replay: what the rules decide on figures recorded earlier. */
export interface ReplayedDecision extends EpochDecision {
  epoch: number;
}

/**
 * What `rules` would have decided on a run's recorded figures, epoch by epoch from the first,
 * until they stop it (`mnistctl set --dry-run`). The figures stay the recorded ones: past the
 * first decision that differs, a real run would have trained on other weights.
 */
export function replayDecisions(eta0: number, rules: StoppingRules, figures: readonly EpochFigures[], epochs: number): ReplayedDecision[] {
  let state = initialPolicyState(eta0);
  const replayed: ReplayedDecision[] = [];
  for (const [epoch, figure] of figures.entries()) {
    const step = decideEpoch(state, rules, epoch, figure, epochs);
    state = step.state;
    replayed.push({ epoch, ...step.decision });
    if (step.decision.decision === "stop") break;
  }
  return replayed;
}
