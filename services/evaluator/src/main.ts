#!/usr/bin/env node
import { consumeCheckpoints, watchProgress } from "@mnist/cluster";
import { loadMnist } from "@mnist/core";
import { Rejections, runService } from "@mnist/runtime";
import { mnistLimits } from "@mnist/training";
import { evaluatorEnv, evaluatorGrpcPort } from "./config.js";
import { Placement } from "./placement.js";
import { runService as runServiceBinding } from "./run-service.js";
import { RunStore } from "./run-store.js";
import { Steering } from "./steering.js";

await runService({
  name: "evaluator",
  defaultGrpcPort: evaluatorGrpcPort,
  env: evaluatorEnv,
  start: async ({ config, logger, nats, grpcAccess }) => {
    const mnist = loadMnist(config.EVALUATOR_DATA_DIR === undefined ? {} : { dataDir: config.EVALUATOR_DATA_DIR });
    const rejections = new Rejections(logger).start();
    const store = await RunStore.open(nats, {
      onWatchError: (key, error) => logger.warn({ key, err: error }, "runs watch dropped; opening it again"),
      onInvalid: (key, reason) => rejections.reject("runs", reason.startsWith("undecodable") ? "undecodable" : "invalid", { key, detail: reason }),
    });
    const placement = new Placement(nats, store, logger, rejections, grpcAccess);
    const steering = new Steering(nats, store, placement, mnist, logger, rejections);
    placement.onPlaced = (run, startEpoch) => steering.placed(run, startEpoch);
    placement.onRefused = async (run, reason) => void (await steering.fail(run, reason));
    placement.afterPass = (runs, trainers) => steering.resendDecisions(runs, trainers);
    const consuming = new AbortController();
    // Every change of a run's state by anyone (a launch, a stop, another evaluator) starts a placement pass.
    const following = store.follow(consuming.signal, () => placement.kick());
    const consumer = consumeCheckpoints(nats, config.EVALUATOR_CONSUMER, (announcement) => steering.handle(announcement), {
      signal: consuming.signal,
      redeliverMs: config.EVALUATOR_REDELIVER_MS,
      onError: (error) => logger.error({ err: error }, "checkpoint handling failed; it will be redelivered"),
      onRejected: (reason, detail, bytes) => rejections.reject("checkpoints", reason, { detail, bytes }),
    }).catch((error: unknown) => logger.error({ err: error }, "checkpoint consumer stopped"));
    placement.start(config.EVALUATOR_PLACEMENT_INTERVAL_MS);
    return {
      services: [
        runServiceBinding(store, steering, { ...mnistLimits, maxEpochs: config.EVALUATOR_MAX_EPOCHS }, (runId, signal) =>
          watchProgress(nats, runId, signal, (reason, detail) => rejections.reject("progress", reason, { run: runId, detail })),
        ),
      ],
      stop: async () => {
        consuming.abort();
        await placement.stop();
        await Promise.all([consumer, following]);
        rejections.stop();
      },
    };
  },
});
