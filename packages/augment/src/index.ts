// @mnist/augment: the augmentation kernels (native), the shift expansion, the slice protocol
// and the epoch sources trainers read (over NATS from the augment service, or in-process).
export { AugmentClosedError, AugmentRejectedError, AugmentUnavailableError } from "./errors.js";
export {
  affineBatch,
  augmentBatch,
  augmentBatchAsync,
  drawExample,
  elasticField,
  expandedIndex,
  expandShifts,
  inverseAffineMap,
  IMAGE_PIXELS,
  IMAGE_SIDE,
  MAX_SEED,
  shiftNames,
  type AffineMap,
  type AffineParameters,
  type BatchRequest,
  type ExampleDraw,
  type ShiftName,
} from "./kernels.js";
export {
  augmentRanges,
  augmentSettings,
  checkAugmentSettings,
  epochSize,
  isIdentity,
  noAugmentation,
  presets,
  type AugmentSettings,
  type PresetName,
} from "./spec.js";
export { checkTrainingSet, defaultMnistDir, limitTrainingSet, loadTrainingSet, MNIST_TRAINING_IMAGES, type TrainingSet } from "./dataset.js";
export { epochOrder, type EpochOrder } from "./order.js";
export { BYTES_PER_EXAMPLE, SliceMaker, type EpochPlan, type SliceData } from "./slices.js";
export {
  AUGMENT_QUEUE,
  checkRunId,
  checkSliceRequest,
  encodeError,
  encodeParts,
  examplesPerPart,
  MAX_REQUEST_BYTES,
  SLICE_SUBJECT,
  type CheckedSliceRequest,
  type SliceLimits,
} from "./protocol.js";
export { emptyStats, sliceBytes, type EpochOptions, type EpochSlice, type EpochSource, type SourceStats } from "./source.js";
export { DEFAULT_SLICE_SIZE, LocalEpochSource, MAX_SLICE_SIZE, type LocalSourceOptions } from "./local.js";
export { NatsEpochSource, type NatsSourceOptions, type SourceLogger } from "./consumer.js";
