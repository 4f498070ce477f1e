import { invalidArgument } from "@mnist/errors";
import { CoreError } from "./errors.js";
import { native } from "./native.js";
import { checkDropoutMask, checkNetwork, nativeLayout, segmentName, type Network } from "./network.js";
import { epochChunk, maxFloat32, paramCount, resolveTrainOptions, type ResolvedTrainOptions, type TrainOptions } from "./options.js";
import { epochOrder } from "./order.js";
import { checkInputs, checkInteger, checkLabels, checkNumber, checkObject } from "./validate.js";

/**
 * What training carries between calls besides the parameters: the momentum velocities (same
 * layout as params) and scratch buffers allocated once. Training updates network.params in place.
 */
export interface TrainingState {
  readonly network: Network;
  /** Zero until momentum is used; save it with the params to resume momentum exactly. */
  readonly velocities: Float32Array;
}

interface Internals {
  layout: Int32Array;
  scratch: Float32Array;
  scratchBatch: number;
  hyper: Float64Array;
  /** A trainBatchesAsync call has not settled: its buffers are in use. */
  busy?: boolean;
}

// Keeps the buffers out of the public shape; also tells a state we made from a look-alike.
const internals = new WeakMap<TrainingState, Internals>();

/** `velocities` checked for a network of `count` parameters; zeros when absent. */
function checkVelocities(velocities: Float32Array | undefined, count: number, field: string): Float32Array {
  if (velocities === undefined) return new Float32Array(count);
  if (!(velocities instanceof Float32Array) || velocities.length !== count) {
    throw invalidArgument(field, velocities, `a Float32Array of ${count} floats (the parameter count)`);
  }
  for (let i = 0; i < velocities.length; i++) if (!Number.isFinite(velocities[i])) throw invalidArgument(`${field}[${i}]`, velocities[i], "a finite number");
  return velocities;
}

export function createTrainingState(network: Network, options: { velocities?: Float32Array } = {}): TrainingState {
  const net = checkNetwork(network);
  checkObject("options", options);
  const velocities = checkVelocities(options.velocities, paramCount(net.spec.sizes), "options.velocities");
  // Shares the caller's params buffer (training updates it in place) under the checked spec.
  const state: TrainingState = { network: net, velocities };
  internals.set(state, {
    layout: nativeLayout(net.spec),
    scratch: new Float32Array(0),
    scratchBatch: 0,
    hyper: new Float64Array(8),
  });
  return state;
}

/**
 * Puts `network`'s parameters and `velocities` (zeros when absent) into the state, in place: where
 * training goes on from an earlier epoch's checkpoint (restoreBestOnDecay). The shapes must match.
 */
export function restoreTrainingState(state: TrainingState, network: Network, velocities?: Float32Array): void {
  const inside = internalsOf(state);
  if (inside.busy) throw invalidArgument("state", "in training", "a training state no call is training (trainBatchesAsync has not settled)");
  const from = checkNetwork(network);
  const [sizes, expected] = [from.spec.sizes.join(","), state.network.spec.sizes.join(",")];
  if (sizes !== expected) throw invalidArgument("network.spec.sizes", from.spec.sizes, `the state's sizes [${expected}]`);
  const restored = checkVelocities(velocities, state.velocities.length, "velocities");
  state.network.params.set(from.params);
  state.velocities.set(restored);
}

function internalsOf(state: TrainingState): Internals {
  const found = typeof state === "object" && state !== null ? internals.get(state) : undefined;
  if (!found) throw invalidArgument("state", state, "a TrainingState from createTrainingState");
  return found;
}

function ensureScratch(inside: Internals, batch: number): void {
  if (inside.scratchBatch >= batch) return;
  inside.scratch = new Float32Array(native.scratchFloats(inside.layout, batch));
  inside.scratchBatch = batch;
}

export interface TrainResult {
  /** Mini-batches run by this call. */
  batches: number;
  /** Index within the epoch of the next mini-batch: firstBatchIndex for the following call. */
  nextBatchIndex: number;
}

/**
 * Runs consecutive mini-batches of options.miniBatch over the count examples IN THE ORDER GIVEN
 * (the whole loop is native). count must be a multiple of the mini-batch size, except in the
 * epoch's final call, where the last mini-batch may be smaller — the call that ends at example
 * trainSize of the epoch. Results depend only on the examples, their order and the options, not
 * on how an epoch is cut into calls. Throws DIVERGED if a parameter becomes NaN or Infinity.
 */
export function trainBatches(state: TrainingState, inputs: Uint8Array | Float32Array, labels: Uint8Array, count: number, options: TrainOptions): TrainResult {
  const call = checkedBatches(state, inputs, labels, count, options);
  return call.finish(call.args ? native.trainBatches(...call.args) : -1);
}

/**
 * trainBatches on the libuv thread pool: the same checks and the same bits, with the event loop
 * free meanwhile (a trainer's runs train in parallel, and it answers gRPC while they do). The
 * state, inputs and labels must be left alone until the promise settles; a second call on the
 * same state meanwhile is refused.
 */
export async function trainBatchesAsync(state: TrainingState, inputs: Uint8Array | Float32Array, labels: Uint8Array, count: number, options: TrainOptions): Promise<TrainResult> {
  const call = checkedBatches(state, inputs, labels, count, options);
  if (!call.args) return call.finish(-1);
  const inside = internalsOf(state);
  inside.busy = true;
  try {
    return call.finish(await native.trainBatchesAsync(...call.args));
  } finally {
    inside.busy = false;
  }
}

type NativeBatchArgs = Parameters<typeof native.trainBatches>;

/** The checked native arguments of a trainBatches call (none for zero examples) and how to read its result. */
function checkedBatches(
  state: TrainingState,
  inputs: Uint8Array | Float32Array,
  labels: Uint8Array,
  count: number,
  options: TrainOptions,
): { args: NativeBatchArgs | undefined; finish(bad: number): TrainResult } {
  const inside = internalsOf(state);
  const { spec } = state.network;
  const o = resolveTrainOptions(options);
  checkInteger("count", count, 0, 2 ** 31 - 1);
  const x = checkInputs("inputs", inputs, count, spec.sizes[0]!);
  const y = checkLabels("labels", labels, count, spec.sizes.at(-1)!);
  const m = o.miniBatch;
  const endsEpoch = o.firstBatchIndex * m + count === o.trainSize;
  if (count % m !== 0 && !endsEpoch) {
    throw invalidArgument(
      "count",
      count,
      `a multiple of miniBatch ${m}, except for the epoch's final call (firstBatchIndex ${o.firstBatchIndex} × ${m} + count = trainSize ${o.trainSize})`,
    );
  }
  if (o.firstBatchIndex * m + count > o.trainSize) {
    throw invalidArgument("firstBatchIndex", o.firstBatchIndex, `at most such that firstBatchIndex × miniBatch + count ≤ trainSize ${o.trainSize}`);
  }
  return batchCall(state, inside, x, y, count, o);
}

function batchCall(
  state: TrainingState,
  inside: Internals,
  x: Uint8Array | Float32Array,
  y: Uint8Array,
  count: number,
  o: ResolvedTrainOptions,
  order: Uint32Array | null = null,
): { args: NativeBatchArgs | undefined; finish(bad: number): TrainResult } {
  if (inside.busy) throw invalidArgument("state", "in training", "a training state one call trains at a time (trainBatchesAsync has not settled)");
  const batches = Math.ceil(count / o.miniBatch);
  if (count === 0) return { args: undefined, finish: () => ({ batches: 0, nextBatchIndex: o.firstBatchIndex }) };
  ensureScratch(inside, Math.min(o.miniBatch, count));
  const h = inside.hyper;
  h[0] = o.eta;
  h[1] = o.lambda;
  h[2] = o.l1;
  h[3] = o.dropout;
  h[4] = o.momentum;
  h[5] = o.nesterov ? 1 : 0;
  h[6] = o.miniBatch;
  h[7] = o.trainSize;
  const { spec, params } = state.network;
  const args: NativeBatchArgs = [inside.layout, params, state.velocities, inside.scratch, inside.scratchBatch, x, y, count, h, o.seed, o.epoch, o.firstBatchIndex, order];
  return {
    args,
    finish(bad) {
      if (bad >= 0) {
        const last = o.firstBatchIndex + batches - 1;
        throw new CoreError(
          "DIVERGED",
          `epoch ${o.epoch}, mini-batches ${o.firstBatchIndex}..${last}: the ${segmentName(spec, bad)} hold NaN or Infinity (eta ${o.eta} too large?)`,
          "params",
        );
      }
      return { batches, nextBatchIndex: o.firstBatchIndex + batches };
    },
  };
}

export interface EpochData {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export type EpochOptions = Omit<TrainOptions, "firstBatchIndex" | "trainSize"> & {
  /** Defaults to data.count. */
  trainSize?: number;
  /** Examples per native call; rounded down to a multiple of miniBatch. */
  chunk?: number;
};

/**
 * One epoch over a whole dataset in epochOrder(seed, epoch, count): the native loop reads each
 * mini-batch's examples through the order (with two threads the helper gathers the next one
 * meanwhile), a chunk of the order per call. Bit-identical to gathering the examples and feeding
 * them through trainBatches in any multiple-of-m slices.
 */
export function trainEpoch(state: TrainingState, data: EpochData, options: EpochOptions): TrainResult {
  const inside = internalsOf(state);
  const { spec } = state.network;
  const d = checkObject("data", data);
  const count = checkInteger("data.count", d.count, 1, 2 ** 31 - 1);
  const width = spec.sizes[0]!;
  if (!(d.pixels instanceof Uint8Array)) throw invalidArgument("data.pixels", d.pixels, "a Uint8Array of pixels");
  checkInputs("data.pixels", d.pixels, count, width);
  checkLabels("data.labels", d.labels, count, spec.sizes.at(-1)!);
  const { chunk: chunkOption, ...rest } = checkObject("options", options) as EpochOptions;
  const o = resolveTrainOptions({ ...rest, trainSize: rest.trainSize ?? count });
  if (o.trainSize !== count) throw invalidArgument("options.trainSize", o.trainSize, `${count}, data.count: an epoch covers the whole training set`);
  const m = o.miniBatch;
  const wanted = chunkOption === undefined ? epochChunk : checkNumber("options.chunk", chunkOption, 1, 2 ** 31 - 1);
  const chunk = Math.max(m, Math.floor(wanted / m) * m);
  const x = d.pixels.subarray(0, count * width);
  const y = (d.labels as Uint8Array).subarray(0, count);

  const order = epochOrder(o.seed, o.epoch, count);
  let batchIndex = 0;
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const call = batchCall(state, inside, x, y, n, { ...o, firstBatchIndex: batchIndex }, order.subarray(start, start + n));
    batchIndex = call.finish(call.args ? native.trainBatches(...call.args) : -1).nextBatchIndex;
  }
  return { batches: batchIndex, nextBatchIndex: batchIndex };
}

export interface GradientOptions {
  lambda?: number;
  l1?: number;
  /** n in λ/n; required when lambda or l1 is set. */
  trainSize?: number;
  /** Fixed dropout multipliers (see dropoutMask), hidden layer by hidden layer, count × size each. */
  dropoutMask?: Float32Array;
}

/**
 * Gradient of the mini-batch's mean cost plus regularisation, (1/count)·Σ∇C_x + (λ/n)·w +
 * (l1/n)·sgn(w) (weights only), in the parameter layout. For tests and tools: training never
 * materialises it.
 */
export function computeGradient(network: Network, inputs: Uint8Array | Float32Array, labels: Uint8Array, count: number, options: GradientOptions = {}): Float32Array {
  const net = checkNetwork(network);
  const { sizes } = net.spec;
  checkInteger("count", count, 1, 1 << 20);
  const x = checkInputs("inputs", inputs, count, sizes[0]!);
  const y = checkLabels("labels", labels, count, sizes.at(-1)!);
  const o = checkObject("options", options);
  const lambda = checkNumber("options.lambda", o.lambda ?? 0, 0, maxFloat32);
  const l1 = checkNumber("options.l1", o.l1 ?? 0, 0, maxFloat32);
  let trainSize = 1;
  if (lambda > 0 || l1 > 0 || o.trainSize !== undefined) trainSize = checkInteger("options.trainSize", o.trainSize, 1, 2 ** 31 - 1);
  const mask = checkDropoutMask(net.spec, o.dropoutMask, count);
  const layout = nativeLayout(net.spec);
  const scratch = new Float32Array(native.scratchFloats(layout, count));
  const grads = new Float32Array(net.params.length);
  native.computeGradient(layout, net.params, scratch, count, x, y, count, lambda / trainSize, l1 / trainSize, mask, grads);
  return grads;
}
