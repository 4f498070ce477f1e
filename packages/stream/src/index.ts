// @mnist/stream: an epoch as a stream of slices of examples, in its deterministic order, exactly
// once — over NATS from the augment replicas (the slice protocol and the trainers' consumer) or
// in-process; both give the same bytes.
export { AugmentClosedError, AugmentRejectedError, AugmentUnavailableError } from "./errors.js";
export {
  AUGMENT_QUEUE,
  checkSliceRequest,
  encodeError,
  encodeParts,
  MAX_REQUEST_BYTES,
  SLICE_SUBJECT,
  type CheckedSliceRequest,
  type SliceLimits,
} from "./protocol.js";
export { emptyStats, sliceBytes, type EpochOptions, type EpochSlice, type EpochSource, type SourceStats } from "./source.js";
export { DEFAULT_SLICE_SIZE, LocalEpochSource, MAX_SLICE_SIZE, type LocalSourceOptions } from "./local.js";
export { NatsEpochSource, type NatsSourceOptions, type SourceLogger } from "./consumer.js";
