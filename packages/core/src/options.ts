import { invalidArgument } from "@mnist/errors";
import { checkBoolean, checkInteger, checkKnownKeys, checkNumber, checkObject, checkOneOf, checkSeed, type Seed } from "./validate.js";

// The typed options of the core and every default, in one place.

export const activations = ["sigmoid", "tanh", "relu"] as const;
/** Activation of the hidden layers. The output layer follows from the cost. */
export type ActivationName = (typeof activations)[number];

/**
 * Every cost with the numbers it is written down as: the one table of them.
 * - `checkpoint`: its code in the binary checkpoint format (serialize.ts). Stored checkpoints hold
 *   these codes, so they never change; a new cost takes a new code.
 * - `native`: native/network.h's COST_* value, the cost in the layout every native call takes
 *   (test/costs.test.ts checks the header agrees).
 * The protocol's Cost enum (proto/mnist/v1/network.proto) has numbers of its own on the wire;
 * @mnist/training maps it to these names, and its spec test checks the mapping covers each once.
 */
export const costCodes = {
  "cross-entropy": { checkpoint: 0, native: 1 },
  quadratic: { checkpoint: 1, native: 0 },
  "log-likelihood": { checkpoint: 2, native: 2 },
} as const satisfies Record<string, { checkpoint: number; native: number }>;
/**
 * Output layer and cost together: "quadratic" and "cross-entropy" use sigmoid outputs,
 * "log-likelihood" uses a softmax output.
 */
export type CostName = keyof typeof costCodes;
export const costs = Object.keys(costCodes) as readonly CostName[];

export const inits = ["default", "large"] as const;
/** "default": weights N(0, 1/n_in), biases N(0, 1). "large": both N(0, 1), as in chapter 1. */
export type InitName = (typeof inits)[number];

export interface NetworkSpec {
  /** Layer sizes, input first: [784, 30, 10]. */
  sizes: number[];
  activation: ActivationName;
  cost: CostName;
  init: InitName;
}

export type NetworkSpecInput = Pick<NetworkSpec, "sizes"> & Partial<Omit<NetworkSpec, "sizes">>;

export const specDefaults = { activation: "sigmoid", cost: "cross-entropy", init: "default" } as const satisfies Omit<NetworkSpec, "sizes">;

/** Matches MAX_LAYERS in native/network.h. */
export const maxWeightLayers = 16;
/** Keeps count × width products and offsets comfortably inside int32 on the native side. */
export const maxLayerSize = 65_536;
export const maxParams = 1 << 28;
/** The largest float32: the core computes in single precision, and its boundary refuses more. */
export const maxFloat32 = 3.4028234663852886e38;

/** The core's size limits: the one source of truth for every network size a caller accepts. */
export const networkLimits = Object.freeze({ maxWeightLayers, maxLayerSize, maxParams });

export function resolveSpec(input: unknown, field = "spec"): NetworkSpec {
  const spec = checkObject(field, input);
  checkKnownKeys(field, spec, ["sizes", "activation", "cost", "init"]);
  const sizes = spec.sizes;
  if (!Array.isArray(sizes) || sizes.length < 2 || sizes.length > maxWeightLayers + 1) {
    throw invalidArgument(`${field}.sizes`, sizes, `an array of 2 to ${maxWeightLayers + 1} layer sizes, such as [784, 30, 10]`);
  }
  sizes.forEach((size, i) => checkInteger(`${field}.sizes[${i}]`, size, 1, maxLayerSize));
  const resolved: NetworkSpec = {
    sizes: [...(sizes as number[])],
    activation: checkOneOf(`${field}.activation`, spec.activation ?? specDefaults.activation, activations),
    cost: checkOneOf(`${field}.cost`, spec.cost ?? specDefaults.cost, costs),
    init: checkOneOf(`${field}.init`, spec.init ?? specDefaults.init, inits),
  };
  if (paramCount(resolved.sizes) > maxParams) throw invalidArgument(`${field}.sizes`, sizes, `at most ${maxParams} parameters in all`);
  return resolved;
}

/** Number of floats in the parameter buffer: Σ (n_out × n_in + n_out). */
export function paramCount(sizes: readonly number[]): number {
  let n = 0;
  for (let l = 0; l + 1 < sizes.length; l++) n += sizes[l + 1]! * sizes[l]! + sizes[l + 1]!;
  return n;
}

/** Hyper-parameters of one trainBatches call. */
export interface TrainOptions {
  /** Learning rate η > 0. */
  eta: number;
  /** Mini-batch size m ≥ 1. */
  miniBatch: number;
  /** n in λ/n: the size of the whole training set, not of this chunk. */
  trainSize: number;
  /** Fixes the dropout masks (with epoch and mini-batch index). */
  seed: Seed;
  /** L2 strength λ ≥ 0 (Eq. 93). */
  lambda?: number;
  /** L1 strength λ ≥ 0 (Eq. 97); may be combined with lambda. */
  l1?: number;
  /** Fraction p of hidden units dropped, in [0, 1). */
  dropout?: number;
  /** Momentum coefficient μ in [0, 1) (Eq. 107-108). */
  momentum?: number;
  /** Nesterov's variant of momentum; the stored weights are then the look-ahead point. */
  nesterov?: boolean;
  /** Epoch number, for the dropout masks. */
  epoch?: number;
  /** Index within the epoch of the first mini-batch of this call, for the dropout masks. */
  firstBatchIndex?: number;
}

export interface ResolvedTrainOptions {
  eta: number;
  miniBatch: number;
  trainSize: number;
  seed: bigint;
  lambda: number;
  l1: number;
  dropout: number;
  momentum: number;
  nesterov: boolean;
  epoch: number;
  firstBatchIndex: number;
}

export const trainDefaults = { lambda: 0, l1: 0, dropout: 0, momentum: 0, nesterov: false, epoch: 0, firstBatchIndex: 0 } as const;

const maxIndex = 2 ** 32 - 1;

export function resolveTrainOptions(input: unknown, extraKeys: readonly string[] = [], field = "options"): ResolvedTrainOptions {
  const o = checkObject(field, input);
  checkKnownKeys(field, o, ["eta", "miniBatch", "trainSize", "seed", ...Object.keys(trainDefaults), ...extraKeys]);
  return {
    eta: checkNumber(`${field}.eta`, o.eta, 0, maxFloat32, { minExclusive: true }),
    miniBatch: checkInteger(`${field}.miniBatch`, o.miniBatch, 1, 1 << 20),
    trainSize: checkInteger(`${field}.trainSize`, o.trainSize, 1, 2 ** 31 - 1),
    seed: checkSeed(`${field}.seed`, o.seed),
    lambda: checkNumber(`${field}.lambda`, o.lambda ?? trainDefaults.lambda, 0, maxFloat32),
    l1: checkNumber(`${field}.l1`, o.l1 ?? trainDefaults.l1, 0, maxFloat32),
    dropout: checkNumber(`${field}.dropout`, o.dropout ?? trainDefaults.dropout, 0, 1, { maxExclusive: true }),
    momentum: checkNumber(`${field}.momentum`, o.momentum ?? trainDefaults.momentum, 0, 1, { maxExclusive: true }),
    nesterov: checkBoolean(`${field}.nesterov`, o.nesterov ?? trainDefaults.nesterov),
    epoch: checkInteger(`${field}.epoch`, o.epoch ?? trainDefaults.epoch, 0, maxIndex),
    firstBatchIndex: checkInteger(`${field}.firstBatchIndex`, o.firstBatchIndex ?? trainDefaults.firstBatchIndex, 0, maxIndex),
  };
}

/** Regularisation terms of a cost: network2.total_cost's, with L1 alongside L2. */
export interface CostOptions {
  lambda?: number;
  l1?: number;
}

export const costDefaults = { lambda: 0, l1: 0 } as const;

export function resolveCostOptions(input: unknown = {}, field = "options"): Required<CostOptions> {
  const o = checkObject(field, input);
  checkKnownKeys(field, o, Object.keys(costDefaults));
  return {
    lambda: checkNumber(`${field}.lambda`, o.lambda ?? costDefaults.lambda, 0, maxFloat32),
    l1: checkNumber(`${field}.l1`, o.l1 ?? costDefaults.l1, 0, maxFloat32),
  };
}

/** Examples per native batch for evaluate/predict: big enough for sgemm, small enough for cache. */
export const inferenceBatch = 500;

/**
 * Examples per trainBatches call inside trainEpoch (rounded down to a multiple of the mini-batch).
 * Each call checks every label of the set again and prepares its first mini-batch on the training
 * thread, so few calls an epoch; the results do not depend on it.
 */
export const epochChunk = 10_000;

/** MNIST's shape, for checkFitsData. */
export const mnistShape = { inputSize: 784, classes: 10 } as const;
