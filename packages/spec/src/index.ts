// @mnist/spec: what a run is and how it is steered — the run spec (defaults, validation, limits
// from the core), the augmentation settings, the early-stopping and learning-rate policy, run
// states, the seeded draws, and how a network is scored. No augmentation addon, no transport.
export {
  decideEpoch,
  initialPolicyState,
  replayDecisions,
  watched,
  type DecisionName,
  type EpochDecision,
  type EpochFigures,
  type PolicyState,
  type ReplayedDecision,
} from "./policy.js";
export {
  activationByName,
  checkEta,
  costByName,
  etaRange,
  evalSetByName,
  initByName,
  mnistLimits,
  resolveRunSpec,
  resolveStopping,
  runDefaults,
  runSpec,
  stoppingMetricByName,
  type ActivationName,
  type CostName,
  type EvalSetName,
  type InitName,
  type MonitorFlags,
  type ResolvedRunSpec,
  type SpecLimits,
  type StoppingMetricName,
  type StoppingRules,
  trainingExtras,
} from "./spec.js";
export {
  augmentLabel,
  augmentRanges,
  augmentSettings,
  checkAugmentSettings,
  epochSize,
  isIdentity,
  noAugmentation,
  presets,
  type AugmentSettings,
  type PresetName,
} from "./augment.js";
export {
  ashaRungs,
  emptySweepState,
  maxSweepTrials,
  percentile,
  resolveScheduler,
  schedule,
  schedulerByName,
  schedulerDefaults,
  type Rung,
  type SchedulerName,
  type SchedulerRules,
  type SchedulerVerdict,
  type SweepState,
} from "./schedulers.js";
export { initialNetwork, score, type Score } from "./scoring.js";
export { checkRunId } from "./run-id.js";
export { isTerminal } from "./states.js";
export { splitmix64 } from "./random.js";
