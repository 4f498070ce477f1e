import { epochOrder as coreEpochOrder } from "@mnist/core";

/** The epoch's deterministic order: a permutation of 0 .. n-1 that depends only on (seed, epoch, n). */
export type EpochOrder = (seed: bigint, epoch: number, n: number) => Uint32Array;

/**
 * The core's epoch order (Fisher–Yates driven by splitmix64 from (seed, epoch)), the one the
 * trainer uses: over the expanded training set when the run expands it.
 */
export const epochOrder: EpochOrder = (seed, epoch, n) => coreEpochOrder(seed, epoch, n);
