// @mnist/core: the native training core. Everything public is exported here.
export { CoreError, type CoreErrorCode } from "./errors.js";
export type { Seed } from "./validate.js";
export {
  activations,
  costCodes,
  costs,
  inits,
  specDefaults,
  trainDefaults,
  costDefaults,
  mnistShape,
  networkLimits,
  paramCount,
  resolveSpec,
  resolveTrainOptions,
  type ActivationName,
  type CostName,
  type InitName,
  type NetworkSpec,
  type NetworkSpecInput,
  type TrainOptions,
  type ResolvedTrainOptions,
  type CostOptions,
} from "./options.js";
export {
  createNetwork,
  networkFrom,
  cloneNetwork,
  layerView,
  checkFitsData,
  evaluate,
  predict,
  forward,
  dropoutMaskLength,
  type Network,
  type LayerView,
  type Evaluation,
  type ForwardPass,
} from "./network.js";
export {
  createTrainingState,
  restoreTrainingState,
  trainBatches,
  trainBatchesAsync,
  trainEpoch,
  computeGradient,
  type TrainingState,
  type TrainResult,
  type EpochData,
  type EpochOptions,
  type GradientOptions,
} from "./train.js";
export { epochOrder, dropoutMask } from "./order.js";
export {
  networkToJson,
  saveNetworkJson,
  loadNetworkJson,
  networkFromJson,
  encodeCheckpoint,
  decodeCheckpoint,
  checkpointVersion,
  type NetworkJson,
  type Checkpoint,
} from "./serialize.js";
export { parseIdx, readIdxFile, isGzip, type IdxFile, type IdxImages, type IdxLabels } from "./idx.js";
export { loadMnist, defaultDataDir, sliceDataset, mnistSplit, type Dataset, type Mnist, type LoadMnistOptions } from "./dataset.js";
export { setBlasThreads, getBlasThreads, runtimeInfo, defaultBlasThreads, measureSgemmGflops, type RuntimeInfo, type SgemmOptions } from "./blas.js";
