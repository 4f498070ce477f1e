import { native } from "./native.js";
import { dropoutMaskLength, nativeLayout } from "./network.js";
import { resolveSpec, type NetworkSpecInput } from "./options.js";
import { checkInteger, checkNumber, checkSeed, type Seed } from "./validate.js";

/**
 * The order in which an epoch visits the n training examples: a Fisher-Yates permutation driven
 * by splitmix64 from (seed, epoch) — a pure function of (seed, epoch, n), so the trainer and the
 * augment service derive the same stream independently, and a resumed run needs no RNG state.
 *   state = mix64(seed + epoch·γ);  for i = n-1 .. 1: state += γ; j = mix64(state) mod (i+1); swap(i, j)
 * (γ = 0x9e3779b97f4a7c15, mix64 = splitmix64's finaliser, arithmetic mod 2^64; see native/rng.h.)
 * The chapter's mini-batches are then consecutive runs of m entries of this order.
 */
export function epochOrder(seed: Seed, epoch: number, n: number): Uint32Array {
  const s = checkSeed("seed", seed);
  checkInteger("epoch", epoch, 0, 2 ** 32 - 1);
  checkInteger("n", n, 0, 2 ** 32 - 1);
  return native.epochOrder(s, epoch, n);
}

/**
 * The dropout masks trainBatches draws for mini-batch `batchIndex` of `epoch`: multipliers 0 or
 * 1/(1-rate), hidden layer by hidden layer, each batchSize × layer size. Depends only on
 * (seed, epoch, batchIndex), never on how the epoch was cut into calls. Pass the result to
 * computeGradient's dropoutMask to reproduce a training step exactly.
 */
export function dropoutMask(spec: NetworkSpecInput, rate: number, seed: Seed, epoch: number, batchIndex: number, batchSize: number): Float32Array {
  const resolved = resolveSpec(spec);
  checkNumber("rate", rate, 0, 1, { maxExclusive: true });
  const s = checkSeed("seed", seed);
  checkInteger("epoch", epoch, 0, 2 ** 32 - 1);
  checkInteger("batchIndex", batchIndex, 0, 2 ** 32 - 1);
  checkInteger("batchSize", batchSize, 1, 1 << 20);
  if (dropoutMaskLength(resolved, batchSize) === 0) return new Float32Array(0);
  return native.dropoutMask(nativeLayout(resolved), rate, s, epoch, batchIndex, batchSize);
}
