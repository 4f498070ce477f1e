import { createRequire } from "node:module";

/** The addon's functions (native/addon.cpp); call them only through kernels.ts, which validates. */
export interface NativeAugment {
  augmentBatch(src: Uint8Array, indices: Uint32Array, params: Float64Array, seed: bigint, epoch: number, out: Uint8Array): void;
  augmentBatchAsync(src: Uint8Array, indices: Uint32Array, params: Float64Array, seed: bigint, epoch: number, out: Uint8Array): Promise<void>;
  affineBatch(src: Uint8Array, maps: Float64Array, out: Uint8Array): void;
  drawExample(params: Float64Array, seed: bigint, epoch: number, index: number): Float64Array;
  elasticField(seed: bigint, epoch: number, index: number, alpha: number, sigma: number): Float32Array;
  paramCount: number;
}

const require = createRequire(import.meta.url);

export const native = require("../build/Release/mnist_augment.node") as NativeAugment;
