import { createRequire } from "node:module";

/**
 * The addon's functions (native/addon.cpp). Call them only from this package's modules, after
 * validation: the addon checks again everything that decides what memory a call touches (types,
 * counts, buffer lengths, label and index ranges) and throws a TypeError or RangeError, but the
 * API's own errors (CoreError, naming the API's fields) come from the TypeScript checks.
 * `layout` is Int32Array [activation, cost, ...sizes].
 */
export interface NativeCore {
  initParams(layout: Int32Array, params: Float32Array, seed: bigint, large: number): void;
  scratchFloats(layout: Int32Array, batch: number): number;
  trainBatches(
    layout: Int32Array,
    params: Float32Array,
    velocities: Float32Array,
    scratch: Float32Array,
    scratchBatch: number,
    inputs: Uint8Array | Float32Array,
    labels: Uint8Array,
    count: number,
    hyper: Float64Array,
    seed: bigint,
    epoch: number,
    firstBatch: number,
    /** null: the examples in the order given; else example i is row order[i] of inputs and labels. */
    order: Uint32Array | null,
  ): number;
  /** trainBatches on the libuv pool: the same arguments, checked before the work is queued. */
  trainBatchesAsync(...args: Parameters<NativeCore["trainBatches"]>): Promise<number>;
  computeGradient(
    layout: Int32Array,
    params: Float32Array,
    scratch: Float32Array,
    scratchBatch: number,
    inputs: Uint8Array | Float32Array,
    labels: Uint8Array,
    count: number,
    l2: number,
    l1: number,
    mask: Float32Array | null,
    grads: Float32Array,
  ): void;
  evaluate(
    layout: Int32Array,
    params: Float32Array,
    scratch: Float32Array,
    scratchBatch: number,
    inputs: Uint8Array | Float32Array,
    labels: Uint8Array,
    count: number,
  ): [correct: number, costSum: number];
  predict(layout: Int32Array, params: Float32Array, scratch: Float32Array, scratchBatch: number, inputs: Uint8Array | Float32Array, count: number, out: Float32Array): void;
  forward(layout: Int32Array, params: Float32Array, inputs: Uint8Array | Float32Array, count: number, mask: Float32Array | null): Float32Array[];
  weightNorms(layout: Int32Array, params: Float32Array): [sumSquares: number, sumAbs: number];
  firstNonFinite(layout: Int32Array, params: Float32Array): number;
  epochOrder(seed: bigint, epoch: number, n: number): Uint32Array;
  dropoutMask(layout: Int32Array, rate: number, seed: bigint, epoch: number, batchIndex: number, batch: number): Float32Array;
  setBlasThreads(threads: number): void;
  getBlasThreads(): number;
  blasConfig(): string;
  maxLayers: number;
}

const require = createRequire(import.meta.url);

// The same relative path works from src/ (tests) and dist/ (built package). MNIST_CORE_ADDON, an
// absolute path, loads another build instead (npm run test:sanitize: the ASan/UBSan build).
export const native = require(process.env.MNIST_CORE_ADDON || "../build/Release/mnist_core.node") as NativeCore;

/**
 * OpenBLAS threads used by every sgemm of this process. Measured on the 2-core reference machine:
 * at mini-batch 10 a second thread costs more in hand-off than it gains for [784,30,10] and
 * [784,100,10]; it pays off only for wide layers or large mini-batches. So the default is 1,
 * unless the environment asked for a count through OPENBLAS_NUM_THREADS.
 */
export const defaultBlasThreads = 1;

if (process.env.OPENBLAS_NUM_THREADS === undefined) native.setBlasThreads(defaultBlasThreads);
