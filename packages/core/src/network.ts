import { invalidArgument } from "@mnist/errors";
import { CoreError } from "./errors.js";
import { native } from "./native.js";
import { activations, costCodes, inferenceBatch, mnistShape, paramCount, resolveCostOptions, resolveSpec, type CostOptions, type NetworkSpec, type NetworkSpecInput } from "./options.js";
import { checkInputs, checkInteger, checkLabels, checkObject, checkSeed, type Seed } from "./validate.js";

/**
 * A network is its spec plus ONE contiguous float32 parameter buffer. Layout, for each weight
 * layer l = 0 .. sizes.length-2 in turn:
 *   W_l: sizes[l+1] × sizes[l] floats, row-major — row j = neuron j of layer l+1, column k = input k
 *   b_l: sizes[l+1] floats
 * Gradients and velocities use the same layout. Training updates `params` in place.
 */
export interface Network {
  readonly spec: NetworkSpec;
  readonly params: Float32Array;
}

export interface LayerView {
  /** rows × cols, row-major, a view into params (writes go through). */
  weights: Float32Array;
  biases: Float32Array;
  rows: number;
  cols: number;
  /** Offsets of weights and biases in the parameter buffer. */
  weightOffset: number;
  biasOffset: number;
}

/** Views of W_l and b_l; l counts weight layers from 0. */
export function layerView(network: Network, l: number): LayerView {
  const { sizes } = network.spec;
  checkInteger("layer", l, 0, sizes.length - 2);
  let offset = 0;
  for (let k = 0; k < l; k++) offset += sizes[k + 1]! * sizes[k]! + sizes[k + 1]!;
  const rows = sizes[l + 1]!, cols = sizes[l]!;
  const biasOffset = offset + rows * cols;
  return {
    weights: network.params.subarray(offset, biasOffset),
    biases: network.params.subarray(biasOffset, biasOffset + rows),
    rows,
    cols,
    weightOffset: offset,
    biasOffset,
  };
}

/** The Int32Array every native call takes: [activation, cost, ...sizes]. */
export function nativeLayout(spec: NetworkSpec): Int32Array {
  return Int32Array.from([activations.indexOf(spec.activation), costCodes[spec.cost].native, ...spec.sizes]);
}

export function createNetwork(spec: NetworkSpecInput, seed: Seed): Network {
  const resolved = resolveSpec(spec);
  const seedValue = checkSeed("seed", seed);
  const params = new Float32Array(paramCount(resolved.sizes));
  native.initParams(nativeLayout(resolved), params, seedValue, resolved.init === "large" ? 1 : 0);
  return { spec: resolved, params };
}

/** Wraps an existing parameter buffer (e.g. decoded from a checkpoint); checks its length. */
export function networkFrom(spec: NetworkSpecInput, params: Float32Array): Network {
  const resolved = resolveSpec(spec);
  if (!(params instanceof Float32Array)) throw invalidArgument("params", params, "a Float32Array");
  const expected = paramCount(resolved.sizes);
  if (params.length !== expected) throw invalidArgument("params.length", params.length, `${expected} for sizes [${resolved.sizes.join(",")}]`);
  return { spec: resolved, params };
}

export function cloneNetwork(network: Network): Network {
  const checked = checkNetwork(network);
  return { spec: { ...checked.spec, sizes: [...checked.spec.sizes] }, params: checked.params.slice() };
}

/** Re-validates a Network handed in from outside: its spec may have been built by hand. */
export function checkNetwork(network: unknown, field = "network"): Network {
  const n = checkObject(field, network);
  const spec = resolveSpec(n.spec, `${field}.spec`);
  const params = n.params;
  if (!(params instanceof Float32Array)) throw invalidArgument(`${field}.params`, params, "a Float32Array");
  const expected = paramCount(spec.sizes);
  if (params.length !== expected) throw invalidArgument(`${field}.params.length`, params.length, `${expected} for sizes [${spec.sizes.join(",")}]`);
  return { spec, params };
}

/** The caller's check that a network fits a dataset (MNIST by default): input size and classes. */
export function checkFitsData(spec: NetworkSpec, data: { inputSize: number; classes: number } = mnistShape): void {
  const { sizes } = spec;
  if (sizes[0] !== data.inputSize) throw invalidArgument("sizes[0]", sizes[0], `${data.inputSize}, the input size of the data`);
  if (sizes.at(-1) !== data.classes) throw invalidArgument(`sizes[${sizes.length - 1}]`, sizes.at(-1), `${data.classes}, the number of classes of the data`);
}

export function segmentName(spec: NetworkSpec, segment: number): string {
  const l = segment >> 1;
  return `${segment % 2 === 0 ? "weights" : "biases"} of layer ${l} (${spec.sizes[l]}→${spec.sizes[l + 1]})`;
}

/** Throws DIVERGED if any parameter is NaN or ±Infinity. */
export function checkFinite(network: Network, when: string): void {
  const bad = native.firstNonFinite(nativeLayout(network.spec), network.params);
  if (bad >= 0) throw new CoreError("DIVERGED", `${when}: the ${segmentName(network.spec, bad)} hold NaN or Infinity (learning rate too large?)`, "params");
}

function scratchFor(spec: NetworkSpec, batch: number): Float32Array {
  return new Float32Array(native.scratchFloats(nativeLayout(spec), batch));
}

export interface Evaluation {
  /** correct / count. */
  accuracy: number;
  correct: number;
  count: number;
  /**
   * network2.total_cost: mean per-example cost + 0.5·(λ/count)·Σw² + (l1/count)·Σ|w|. As in the
   * chapter, the regularisation term divides by the size of the evaluated set, not the training set.
   */
  cost: number;
}

export function evaluate(network: Network, inputs: Uint8Array | Float32Array, labels: Uint8Array, count: number, options: CostOptions = {}): Evaluation {
  const net = checkNetwork(network);
  const { sizes } = net.spec;
  checkInteger("count", count, 1, 2 ** 31 - 1);
  const x = checkInputs("inputs", inputs, count, sizes[0]!);
  const y = checkLabels("labels", labels, count, sizes.at(-1)!);
  const { lambda, l1 } = resolveCostOptions(options);
  checkFinite(net, "evaluate");
  const layout = nativeLayout(net.spec);
  const batch = Math.min(count, inferenceBatch);
  const [correct, costSum] = native.evaluate(layout, net.params, scratchFor(net.spec, batch), batch, x, y, count);
  let cost = costSum / count;
  if (lambda > 0 || l1 > 0) {
    const [sumSquares, sumAbs] = native.weightNorms(layout, net.params);
    cost += 0.5 * (lambda / count) * sumSquares + (l1 / count) * sumAbs;
  }
  if (!Number.isFinite(cost)) throw new CoreError("DIVERGED", `evaluate: the cost over ${count} examples is ${cost}`, "cost");
  return { accuracy: correct / count, correct, count, cost };
}

/** Output activations, count × sizes[last], row i = example i. */
export function predict(network: Network, inputs: Uint8Array | Float32Array, count: number): Float32Array {
  const net = checkNetwork(network);
  const { sizes } = net.spec;
  checkInteger("count", count, 1, 2 ** 31 - 1);
  const x = checkInputs("inputs", inputs, count, sizes[0]!);
  const batch = Math.min(count, inferenceBatch);
  const out = new Float32Array(count * sizes.at(-1)!);
  native.predict(nativeLayout(net.spec), net.params, scratchFor(net.spec, batch), batch, x, count, out);
  return out;
}

export interface ForwardPass {
  /** activations[l-1] = outputs of layer l (count × sizes[l]) for l = 1 .. L, before dropout. */
  activations: Float32Array[];
  /** Weighted input z of the output layer, count × sizes[last]. */
  outputZ: Float32Array;
}

/** One unbatched pass keeping every layer, for tests and inspection; dropoutMask as in computeGradient. */
export function forward(network: Network, inputs: Uint8Array | Float32Array, count: number, options: { dropoutMask?: Float32Array } = {}): ForwardPass {
  const net = checkNetwork(network);
  checkInteger("count", count, 1, 1 << 20);
  const x = checkInputs("inputs", inputs, count, net.spec.sizes[0]!);
  const mask = checkDropoutMask(net.spec, options.dropoutMask, count);
  const layers = native.forward(nativeLayout(net.spec), net.params, x, count, mask);
  return { activations: layers.slice(0, -1), outputZ: layers.at(-1)! };
}

/** Length of a dropout mask for count examples: Σ over hidden layers of count × size. */
export function dropoutMaskLength(spec: NetworkSpec, count: number): number {
  let n = 0;
  for (let l = 1; l + 1 < spec.sizes.length; l++) n += count * spec.sizes[l]!;
  return n;
}

export function checkDropoutMask(spec: NetworkSpec, mask: unknown, count: number): Float32Array | null {
  if (mask === undefined) return null;
  if (!(mask instanceof Float32Array)) throw invalidArgument("dropoutMask", mask, "a Float32Array of multipliers (0 or 1/(1-p)), hidden layer by hidden layer");
  const expected = dropoutMaskLength(spec, count);
  if (mask.length !== expected) throw invalidArgument("dropoutMask.length", mask.length, `${expected} (count × size of each hidden layer)`);
  for (let i = 0; i < mask.length; i++) if (!Number.isFinite(mask[i])) throw invalidArgument(`dropoutMask[${i}]`, mask[i], "a finite number");
  return mask;
}
