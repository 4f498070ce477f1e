import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Activation, Cost, EvalSet, Init, RunSpecSchema, StoppingMetric, type AugmentSpec, type RunSpec, type StoppingPolicy } from "@mnist/protocol";
import { checkAugmentSettings, isIdentity } from "./augment.js";
import { networkLimits, paramCount, type CostName } from "@mnist/core";
import { InvalidArgument } from "@mnist/errors";

export type { CostName };
export type ActivationName = "sigmoid" | "tanh" | "relu";
export type InitName = "default" | "large";
export type EvalSetName = "validation" | "test";

export interface MonitorFlags {
  trainCost: boolean;
  trainAccuracy: boolean;
  evalCost: boolean;
  evalAccuracy: boolean;
  testAccuracy: boolean;
}

/** The figure on the evaluation data that the stopping rules watch. */
export type StoppingMetricName = "eval-accuracy" | "eval-cost";

export interface StoppingRules {
  metric: StoppingMetricName;
  /** Stop after this many epochs without improvement; 0 = off. */
  earlyStopPatience: number;
  /** Multiply eta by decayFactor after this many epochs without improvement; 0 = off. */
  decayAfter: number;
  decayFactor: number;
  /** Stop once eta <= eta0 * minEtaFraction (only with decay on). */
  minEtaFraction: number;
  /** ... or once eta <= minEta, an absolute floor (0 = none). */
  minEta: number;
  /** How much better than the best an epoch must be to count as an improvement. */
  minDelta: number;
  /** Epochs after a decay before the decay rule counts again. */
  cooldown: number;
  /** No stop or decay before this epoch: plateaus are counted from it. */
  startFromEpoch: number;
  /** On each decay, the next epoch trains from the best epoch's weights and velocities. */
  restoreBestOnDecay: boolean;
}

/** A run spec with every default applied and every field checked: what the core and the services run. */
export interface ResolvedRunSpec {
  name: string;
  sizes: number[];
  activation: ActivationName;
  cost: CostName;
  init: InitName;
  epochs: number;
  miniBatch: number;
  eta: number;
  lambda: number;
  l1: number;
  dropout: number;
  momentum: number;
  nesterov: boolean;
  seed: bigint;
  /** 0 = the whole training set. */
  trainLimit: number;
  evalOn: EvalSetName;
  monitor: MonitorFlags;
  stopping: StoppingRules;
  augment: AugmentSpec | undefined;
}

/** Every default of a run, in one place. */
export const runDefaults = {
  sizes: [784, 30, 10],
  epochs: 30,
  miniBatch: 10,
  eta: 0.5,
  seed: 1n,
  monitor: { trainCost: false, trainAccuracy: false, evalCost: false, evalAccuracy: true, testAccuracy: false },
  decayFactor: 0.5,
  minEtaFraction: 1 / 1024,
  metric: "eval-accuracy",
} as const;

export interface SpecLimits {
  inputSize: number;
  classes: number;
  trainingImages: number;
  maxEpochs: number;
}

export const mnistLimits: SpecLimits = { inputSize: 784, classes: 10, trainingImages: 50_000, maxEpochs: 10_000 };

const activationNames: Record<Activation, ActivationName | undefined> = {
  [Activation.UNSPECIFIED]: "sigmoid",
  [Activation.SIGMOID]: "sigmoid",
  [Activation.TANH]: "tanh",
  [Activation.RELU]: "relu",
};
const costNames: Record<Cost, CostName | undefined> = {
  [Cost.UNSPECIFIED]: "cross-entropy",
  [Cost.CROSS_ENTROPY]: "cross-entropy",
  [Cost.QUADRATIC]: "quadratic",
  [Cost.LOG_LIKELIHOOD]: "log-likelihood",
};
const initNames: Record<Init, InitName | undefined> = { [Init.UNSPECIFIED]: "default", [Init.DEFAULT]: "default", [Init.LARGE]: "large" };
const stoppingMetricNames: Record<StoppingMetric, StoppingMetricName | undefined> = {
  [StoppingMetric.UNSPECIFIED]: runDefaults.metric,
  [StoppingMetric.EVAL_ACCURACY]: "eval-accuracy",
  [StoppingMetric.EVAL_COST]: "eval-cost",
};
const evalSetNames: Record<EvalSet, EvalSetName | undefined> = {
  [EvalSet.UNSPECIFIED]: "validation",
  [EvalSet.VALIDATION]: "validation",
  [EvalSet.TEST]: "test",
};

export const activationByName: Record<ActivationName, Activation> = { sigmoid: Activation.SIGMOID, tanh: Activation.TANH, relu: Activation.RELU };
export const costByName: Record<CostName, Cost> = {
  "cross-entropy": Cost.CROSS_ENTROPY,
  quadratic: Cost.QUADRATIC,
  "log-likelihood": Cost.LOG_LIKELIHOOD,
};
export const initByName: Record<InitName, Init> = { default: Init.DEFAULT, large: Init.LARGE };
export const evalSetByName: Record<EvalSetName, EvalSet> = { validation: EvalSet.VALIDATION, test: EvalSet.TEST };
export const stoppingMetricByName: Record<StoppingMetricName, StoppingMetric> = { "eval-accuracy": StoppingMetric.EVAL_ACCURACY, "eval-cost": StoppingMetric.EVAL_COST };

function enumName<E extends number, N>(field: string, value: E, names: Record<E, N | undefined>): N {
  const name = names[value];
  if (name === undefined) throw new InvalidArgument(field, value, `one of ${Object.keys(names).join(", ")}`);
  return name;
}

function checkRange(field: string, value: number, min: number, max: number, allowed: string, options: { minExclusive?: boolean; maxExclusive?: boolean } = {}) {
  const belowMin = options.minExclusive ? value <= min : value < min;
  const aboveMax = options.maxExclusive ? value >= max : value > max;
  if (!Number.isFinite(value) || belowMin || aboveMax) throw new InvalidArgument(field, value, allowed);
}

/**
 * The learning rates a run may be launched or steered with. The floor keeps every rate the
 * schedule can reach (η₀ × minEtaFraction ≥ 1e-30, each decay by a factor ≥ 0.001) a positive
 * number even in the core's float32; the ceiling is far past any rate that trains.
 */
export const etaRange = { min: 1e-20, max: 1e6 } as const;

/** A learning rate within etaRange, or an InvalidArgument naming `field`. */
export function checkEta(field: string, eta: number): number {
  checkRange(field, eta, etaRange.min, etaRange.max, `a learning rate from ${etaRange.min} to ${etaRange.max}`);
  return eta;
}

function checkInteger(field: string, value: number, min: number, max: number) {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgument(field, value, `an integer from ${min} to ${max}`);
}

function resolveSizes(sizes: readonly number[], limits: SpecLimits): number[] {
  const resolved = sizes.length === 0 ? [...runDefaults.sizes] : [...sizes];
  const { maxWeightLayers, maxLayerSize, maxParams } = networkLimits;
  if (resolved.length < 2 || resolved.length > maxWeightLayers + 1) {
    throw new InvalidArgument("sizes", resolved, `2 to ${maxWeightLayers + 1} layer sizes, such as 784,30,10`);
  }
  if (resolved[0] !== limits.inputSize) throw new InvalidArgument("sizes[0]", resolved[0], `${limits.inputSize}, the number of pixels of an input image`);
  const last = resolved.length - 1;
  if (resolved[last] !== limits.classes) throw new InvalidArgument(`sizes[${last}]`, resolved[last], `${limits.classes}, the number of classes`);
  resolved.forEach((size, layer) => checkInteger(`sizes[${layer}]`, size, 1, maxLayerSize));
  const params = paramCount(resolved);
  if (params > maxParams) throw new InvalidArgument("sizes", resolved, `networks of at most ${maxParams} parameters (this one has ${params})`);
  return resolved;
}

function resolveAugment(augment: AugmentSpec | undefined): AugmentSpec | undefined {
  if (!augment) return undefined;
  checkAugmentSettings(augment, "augment.");
  return isIdentity(augment) ? undefined : augment;
}

function pickMonitor({ trainCost, trainAccuracy, evalCost, evalAccuracy, testAccuracy }: MonitorFlags): MonitorFlags {
  return { trainCost, trainAccuracy, evalCost, evalAccuracy, testAccuracy };
}

/** The stopping rules with their defaults applied, each checked; field names are the RunSpec's (`stopping.…`). */
export function resolveStopping(stopping: StoppingPolicy | undefined, limits: SpecLimits = mnistLimits): StoppingRules {
  const epochCount = (field: keyof StoppingPolicy & string, value: number) => {
    checkInteger(`stopping.${field}`, value, 0, limits.maxEpochs);
    return value;
  };
  const decayFactor = stopping?.decayFactor ?? runDefaults.decayFactor;
  checkRange("stopping.decayFactor", decayFactor, 1e-3, 1, "a factor from 0.001 to less than 1", { maxExclusive: true });
  const minEtaFraction = stopping?.minEtaFraction ?? runDefaults.minEtaFraction;
  checkRange("stopping.minEtaFraction", minEtaFraction, 1e-10, 1, "a fraction from 1e-10 to less than 1", { maxExclusive: true });
  const minEta = stopping?.minEta ?? 0;
  if (minEta !== 0) checkRange("stopping.minEta", minEta, etaRange.min, etaRange.max, `0 (no floor) or a learning rate from ${etaRange.min} to ${etaRange.max}`);
  const minDelta = stopping?.minDelta ?? 0;
  checkRange("stopping.minDelta", minDelta, 0, 1e9, "a margin of at least 0");
  return {
    metric: enumName("stopping.metric", stopping?.metric ?? StoppingMetric.UNSPECIFIED, stoppingMetricNames),
    earlyStopPatience: epochCount("earlyStopPatience", stopping?.earlyStopPatience ?? 0),
    decayAfter: epochCount("decayAfter", stopping?.decayAfter ?? 0),
    decayFactor,
    minEtaFraction,
    minEta,
    minDelta,
    cooldown: epochCount("cooldown", stopping?.cooldown ?? 0),
    startFromEpoch: epochCount("startFromEpoch", stopping?.startFromEpoch ?? 0),
    restoreBestOnDecay: stopping?.restoreBestOnDecay ?? false,
  };
}

/** Applies the defaults and checks every field; the first bad one throws a InvalidArgument naming it. */
export function resolveRunSpec(spec: RunSpec, limits: SpecLimits = mnistLimits): ResolvedRunSpec {
  const sizes = resolveSizes(spec.sizes, limits);
  const epochs = spec.epochs ?? runDefaults.epochs;
  checkInteger("epochs", epochs, 1, limits.maxEpochs);
  const miniBatch = spec.miniBatch ?? runDefaults.miniBatch;
  checkInteger("miniBatch", miniBatch, 1, limits.trainingImages);
  const eta = spec.eta ?? runDefaults.eta;
  checkEta("eta", eta);
  checkRange("lambda", spec.lambda, 0, 1e9, "a regularisation parameter of at least 0");
  checkRange("l1", spec.l1, 0, 1e9, "a regularisation parameter of at least 0");
  checkRange("dropout", spec.dropout, 0, 1, "a fraction in [0, 1)", { maxExclusive: true });
  checkRange("momentum", spec.momentum, 0, 1, "a coefficient in [0, 1)", { maxExclusive: true });
  if (spec.nesterov && spec.momentum === 0) throw new InvalidArgument("nesterov", true, "only with a momentum coefficient greater than 0");
  checkInteger("trainLimit", spec.trainLimit, 0, limits.trainingImages);
  if (spec.trainLimit > 0 && miniBatch > spec.trainLimit) throw new InvalidArgument("miniBatch", miniBatch, `at most trainLimit (${spec.trainLimit})`);
  const stopping = resolveStopping(spec.stopping, limits);
  return {
    name: spec.name,
    sizes,
    activation: enumName("activation", spec.activation, activationNames),
    cost: enumName("cost", spec.cost, costNames),
    init: enumName("init", spec.init, initNames),
    epochs,
    miniBatch,
    eta,
    lambda: spec.lambda,
    l1: spec.l1,
    dropout: spec.dropout,
    momentum: spec.momentum,
    nesterov: spec.nesterov,
    seed: spec.seed ?? runDefaults.seed,
    trainLimit: spec.trainLimit,
    evalOn: enumName("evalOn", spec.evalOn, evalSetNames),
    monitor: spec.monitor ? pickMonitor(spec.monitor) : { ...runDefaults.monitor },
    stopping,
    augment: resolveAugment(spec.augment),
  };
}

/** What a run's training does beyond the chapter's network2 (sigmoid units, plain SGD), in a few words each: "relu", "momentum 0.9 nesterov", "dropout 0.5". */
export function trainingExtras(spec: ResolvedRunSpec): string[] {
  return [
    ...(spec.activation === "sigmoid" ? [] : [spec.activation]),
    ...(spec.momentum > 0 ? [`momentum ${spec.momentum}${spec.nesterov ? " nesterov" : ""}`] : []),
    ...(spec.dropout > 0 ? [`dropout ${spec.dropout}`] : []),
  ];
}

/** Builds and resolves a RunSpec from plain fields (the CLI's flags, tests). */
export function runSpec(init: MessageInitShape<typeof RunSpecSchema>, limits?: SpecLimits): ResolvedRunSpec {
  return resolveRunSpec(create(RunSpecSchema, init), limits);
}
