import type { StoppingRules } from "./spec.js";

export type DecisionName = "continue" | "decay-eta" | "stop";

export interface EpochDecision {
  decision: DecisionName;
  /** The learning rate for the next epoch (unchanged unless decay-eta). */
  eta: number;
  /** Why the run stops, for stop decisions. */
  reason?: string;
  /** True when this epoch set a new best validation accuracy. */
  improved: boolean;
}

/** What the policy remembers between epochs; plain data so it can live in a run record or a checkpoint. */
export interface PolicyState {
  eta0: number;
  eta: number;
  bestAccuracy: number;
  /** -1 before the first epoch. */
  bestEpoch: number;
  /** The epoch of the last decay, -1 if none: the decay rule counts from max(bestEpoch, lastDecayEpoch). */
  lastDecayEpoch: number;
  etaHistory: { epoch: number; eta: number }[];
}

export function initialPolicyState(eta0: number): PolicyState {
  return { eta0, eta: eta0, bestAccuracy: -Infinity, bestEpoch: -1, lastDecayEpoch: -1, etaHistory: [{ epoch: 0, eta: eta0 }] };
}

/**
 * The chapter's steering, decided once per epoch (epochs count from 0) from the accuracy on
 * validation data:
 * - early stopping: stop when the best accuracy has not improved for `earlyStopPatience` epochs
 *   (the no-improvement-in-ten rule);
 * - schedule: when it has not improved for `decayAfter` epochs since the best or the last decay,
 *   multiply eta by `decayFactor`; stop once eta has fallen to eta0 * minEtaFraction;
 * - with neither rule, or if no rule fires first, stop after `epochs` epochs.
 * Pure: returns the new state, so the same accuracies always give the same decisions.
 */
export function decideEpoch(
  state: PolicyState,
  rules: StoppingRules,
  epoch: number,
  accuracy: number,
  epochs: number,
): { state: PolicyState; decision: EpochDecision } {
  const improved = accuracy > state.bestAccuracy;
  const next: PolicyState = improved ? { ...state, bestAccuracy: accuracy, bestEpoch: epoch } : { ...state };
  const decide = (decision: DecisionName, reason?: string, eta = next.eta) => ({ state: next, decision: { decision, eta, reason, improved } });

  const sinceBest = epoch - next.bestEpoch;
  if (rules.earlyStopPatience > 0 && sinceBest >= rules.earlyStopPatience) {
    return decide("stop", `no improvement in ${rules.earlyStopPatience} epochs`);
  }
  if (epoch + 1 >= epochs) return decide("stop", `completed ${epochs} epochs`);
  if (rules.decayAfter > 0 && epoch - Math.max(next.bestEpoch, next.lastDecayEpoch) >= rules.decayAfter) {
    const eta = next.eta * rules.decayFactor;
    // A relative margin, so 0.5^10 lands on 1/1024 despite rounding.
    if (eta <= next.eta0 * rules.minEtaFraction * (1 + 1e-9)) {
      return decide("stop", `learning rate fell to ${formatFraction(rules.minEtaFraction)} of its initial value`);
    }
    next.eta = eta;
    next.lastDecayEpoch = epoch;
    next.etaHistory = [...next.etaHistory, { epoch: epoch + 1, eta }];
    return decide("decay-eta", undefined, eta);
  }
  return decide("continue");
}

function formatFraction(fraction: number): string {
  const inverse = 1 / fraction;
  return Number.isInteger(Math.round(inverse * 1e6) / 1e6) ? `1/${Math.round(inverse)}` : String(fraction);
}
