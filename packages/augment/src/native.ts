import { createRequire } from "node:module";

/**
 * The addon's functions (native/addon.cpp); call them only through kernels.ts, which validates.
 * The addon checks again what decides the memory a call touches (types, lengths, indices, the
 * parameter ranges) and throws a TypeError or RangeError; kernels.ts's InvalidArgument comes first.
 */
export interface NativeAugment {
  augmentBatch(src: Uint8Array, indices: Uint32Array, params: Float64Array, seed: bigint, epoch: number, out: Uint8Array): void;
  augmentBatchAsync(src: Uint8Array, indices: Uint32Array, params: Float64Array, seed: bigint, epoch: number, out: Uint8Array): Promise<void>;
  affineBatch(src: Uint8Array, maps: Float64Array, out: Uint8Array): void;
  drawExample(params: Float64Array, seed: bigint, epoch: number, index: number): Float64Array;
  elasticField(seed: bigint, epoch: number, index: number, alpha: number, sigma: number): Float32Array;
  packPixels(pixels: Uint8Array): [Uint8Array, Uint32Array];
  selectPacked(set: Uint8Array, setEnds: Uint32Array, indices: Uint32Array): [Uint8Array, Uint32Array];
  unpackPixels(packed: Uint8Array, count: number, out: Uint8Array, at: number, skip: Uint8Array | null): boolean;
  unpackPixelsAsync(packed: Uint8Array, count: number, out: Uint8Array, at: number, skip: Uint8Array | null): Promise<void>;
  paramCount: number;
}

const require = createRequire(import.meta.url);

// MNIST_AUGMENT_ADDON, an absolute path, loads another build instead (npm run test:sanitize: the ASan/UBSan build).
export const native = require(process.env.MNIST_AUGMENT_ADDON || "../build/Release/mnist_augment.node") as NativeAugment;
