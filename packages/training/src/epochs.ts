import { trainBatchesAsync, type TrainingState } from "@mnist/core";
import type { ResolvedRunSpec } from "@mnist/spec";
import { MAX_SLICE_SIZE, type EpochSource } from "@mnist/stream";

/**
 * Examples per slice: whole mini-batches, about `about` examples (the core takes a partial
 * mini-batch only at the very end of an epoch, so every slice but the last must hold whole ones).
 * Results never depend on it. In process, slices of about 1000 keep the thread pool's augmenting
 * and training interleaved finely; over NATS, each slice costs a request, a reply, a wake-up of the
 * trainer and a hop to the thread pool, so about 5000 (issue 12: [784,30,10] epochs 0.21 s with
 * 1000, 0.14 s with 5000, against 0.09 s in process).
 */
export function sliceSizeFor(miniBatch: number, about: number): number {
  return Math.min(MAX_SLICE_SIZE, miniBatch * Math.max(1, Math.round(about / miniBatch)));
}

/** Slice sizes (sliceSizeFor's `about`): in process and over NATS. */
export const LOCAL_SLICE_EXAMPLES = 1000;
export const NATS_SLICE_EXAMPLES = 5000;

export interface EpochTiming {
  examples: number;
  /** Wall time of the epoch's training, waiting for data included, evaluation excluded. */
  trainSeconds: number;
  /** The part of trainSeconds spent waiting for the source's next slice (the rest is training). */
  waitSeconds: number;
  imagesPerSecond: number;
}

export interface EpochOptions {
  signal?: AbortSignal;
  /** Called after each slice with the examples trained so far, the epoch's total and the seconds since it started. */
  onProgress?(examples: number, total: number, seconds: number): void;
}

/**
 * Trains one epoch from a source: its slices in order, each handed whole to the core. The
 * result depends only on the examples, their order and the spec, so the in-process source and
 * the NATS source give bit-identical weights.
 */
export async function trainEpochFrom(
  state: TrainingState,
  source: EpochSource,
  spec: ResolvedRunSpec,
  epoch: number,
  eta: number,
  { signal, onProgress }: EpochOptions = {},
): Promise<EpochTiming> {
  const options = {
    eta,
    miniBatch: spec.miniBatch,
    trainSize: source.size,
    seed: spec.seed,
    lambda: spec.lambda,
    l1: spec.l1,
    dropout: spec.dropout,
    momentum: spec.momentum,
    nesterov: spec.nesterov,
    epoch,
  };
  const started = performance.now();
  let firstBatchIndex = 0;
  let examples = 0;
  let waited = 0;
  let asked = started;
  for await (const slice of source.epoch(epoch, { signal })) {
    waited += performance.now() - asked;
    // Off the event loop: a trainer's runs train in parallel, and it answers gRPC meanwhile.
    firstBatchIndex = (await trainBatchesAsync(state, slice.pixels, slice.labels, slice.count, { ...options, firstBatchIndex })).nextBatchIndex;
    examples += slice.count;
    onProgress?.(examples, source.size, (performance.now() - started) / 1000);
    asked = performance.now();
  }
  const trainSeconds = (performance.now() - started) / 1000;
  return { examples, trainSeconds, waitSeconds: waited / 1000, imagesPerSecond: examples / trainSeconds };
}
