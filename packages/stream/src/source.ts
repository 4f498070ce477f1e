import { BYTES_PER_EXAMPLE, type SliceData } from "@mnist/augment";

/** One slice of an epoch, in order: examples [start, start + count) of the epoch's order. */
export interface EpochSlice extends SliceData {
  epoch: number;
  slice: number;
  start: number;
  count: number;
}

/** A source's own accounting; the in-flight figures are what bounds its memory. */
export interface SourceStats {
  slicesDelivered: number;
  examplesDelivered: number;
  /** SliceRequests published, first attempts and re-requests. */
  requests: number;
  reRequests: number;
  /** Parts (or examples of parts) that arrived for examples already held or delivered: dropped. */
  duplicateParts: number;
  /** Messages that were not a valid part of a slice in flight (undecodable, wrong run, epoch, slice or indices): dropped. */
  rejectedMessages: number;
  /** Messages for an epoch no longer being read: dropped. */
  staleMessages: number;
  /** "No responders" answers from NATS (no augment replica subscribed). */
  noResponders: number;
  /** Slices requested (or being made) and not yet handed to the reader. */
  inFlightSlices: number;
  maxInFlightSlices: number;
  /** Bytes held for those slices. */
  inFlightBytes: number;
  maxInFlightBytes: number;
}

export function emptyStats(): SourceStats {
  return {
    slicesDelivered: 0,
    examplesDelivered: 0,
    requests: 0,
    reRequests: 0,
    duplicateParts: 0,
    rejectedMessages: 0,
    staleMessages: 0,
    noResponders: 0,
    inFlightSlices: 0,
    maxInFlightSlices: 0,
    inFlightBytes: 0,
    maxInFlightBytes: 0,
  };
}

export interface EpochOptions {
  /** Aborting ends the epoch with an AugmentClosedError. */
  signal?: AbortSignal;
}

/**
 * Where a trainer reads its epochs from: every example of the epoch exactly once, in the epoch's
 * deterministic order, as consecutive slices. The NATS source and the in-process source give
 * the same bytes for the same plan. One epoch at a time.
 */
export interface EpochSource {
  /** Examples per epoch. */
  readonly size: number;
  readonly sliceSize: number;
  /** Slices per epoch. */
  readonly slices: number;
  epoch(epoch: number, options?: EpochOptions): AsyncGenerator<EpochSlice, void, undefined>;
  stats(): SourceStats;
  close(): Promise<void>;
}

/** Bytes one slice of `count` examples holds, at most: pixels, labels and indices. */
export function sliceBytes(count: number): number {
  return count * BYTES_PER_EXAMPLE;
}
