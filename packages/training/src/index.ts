export { decideEpoch, initialPolicyState, type DecisionName, type EpochDecision, type PolicyState } from "./policy.js";
export {
  activationByName,
  checkEta,
  costByName,
  etaRange,
  evalSetByName,
  initByName,
  mnistLimits,
  resolveRunSpec,
  runDefaults,
  runSpec,
  type ActivationName,
  type CostName,
  type EvalSetName,
  type InitName,
  type MonitorFlags,
  type ResolvedRunSpec,
  type SpecLimits,
  type StoppingRules,
} from "./spec.js";
export { initialNetwork, score, sliceSizeFor, trainEpochFrom, type EpochOptions, type EpochTiming, type Score } from "./epochs.js";
export { trainLocally, type EpochReport, type LocalRunOptions, type LocalRunResult } from "./local.js";
export { isTerminal } from "./states.js";
export { splitmix64 } from "./random.js";
