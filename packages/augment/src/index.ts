// @mnist/augment: the augmentation kernels (native: rotation, translation, skew, scale, elastic
// distortion), the shift expansion, the training set, the epoch order, and the slices they make.
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
export { checkTrainingSet, defaultMnistDir, limitTrainingSet, loadTrainingSet, MNIST_TRAINING_IMAGES, type TrainingSet } from "./dataset.js";
export { epochOrder, type EpochOrder } from "./order.js";
export { MAX_PACKED_IMAGE_BYTES, packImages, selectPacked, unpackImages, unpackImagesAsync, type PackedImages } from "./packing.js";
export { BYTES_PER_EXAMPLE, packSlice, SliceMaker, type EpochPlan, type PackedSliceData, type SliceData } from "./slices.js";
