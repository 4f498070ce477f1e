/** An augment replica rejected a slice request (every replica rejects the same request the same way). */
export class AugmentRejectedError extends Error {
  override readonly name = "AugmentRejectedError";
  readonly code = "AUGMENT_REJECTED";
  constructor(
    readonly runId: string,
    readonly epoch: number,
    readonly slice: number,
    readonly reason: string,
  ) {
    super(`augment rejected run ${runId} epoch ${epoch} slice ${slice}: ${reason}`);
  }
}

/** A slice was not delivered within the delivery deadline, however often it was asked for. */
export class AugmentUnavailableError extends Error {
  override readonly name = "AugmentUnavailableError";
  readonly code = "AUGMENT_UNAVAILABLE";
  constructor(
    readonly runId: string,
    readonly epoch: number,
    readonly slice: number,
    readonly waitedMs: number,
    readonly attempts: number,
  ) {
    super(`no augment replica delivered run ${runId} epoch ${epoch} slice ${slice} within ${waitedMs} ms (${attempts} requests)`);
  }
}

/** The epoch source was closed, or its epoch aborted, while an epoch was being read. */
export class AugmentClosedError extends Error {
  override readonly name = "AugmentClosedError";
  readonly code = "AUGMENT_CLOSED";
}
