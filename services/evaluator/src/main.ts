#!/usr/bin/env node
import { consumeCheckpoints, TrainerView, watchProgress } from "@mnist/cluster";
import { loadMnist } from "@mnist/core";
import { Rejections, runService } from "@mnist/runtime";
import { mnistLimits } from "@mnist/spec";
import { evaluatorEnv, evaluatorGrpcPort } from "./config.js";
import { evaluatorMetrics } from "./metrics.js";
import { Placement } from "./placement.js";
import { runService as runServiceBinding } from "./run-service.js";
import { RunStore } from "./run-store.js";
import { Steering } from "./steering.js";
import { SweepStore } from "./sweep-store.js";
import { TrainerClients } from "./trainer-clients.js";

await runService({
  name: "evaluator",
  defaultGrpcPort: evaluatorGrpcPort,
  env: evaluatorEnv,
  start: async ({ config, logger, nats, grpcAccess, metrics: registry }) => {
    const mnist = loadMnist(config.EVALUATOR_DATA_DIR === undefined ? {} : { dataDir: config.EVALUATOR_DATA_DIR });
    const rejections = new Rejections(logger).start();
    // Any change of a run or a trainer, by anyone (a launch, a stop, another evaluator, a trainer
    // coming or going), starts a placement pass; the periodic tick catches heartbeats that expire.
    let placement: Placement | undefined;
    const kick = () => placement?.kick();
    const store = await RunStore.open(nats, {
      onWatchError: (key, error) => logger.warn({ key, err: error }, "runs watch dropped; opening it again"),
      onInvalid: (key, reason, detail) => rejections.reject("runs", reason, { key, detail }),
      onChange: kick,
    });
    const trainers = await TrainerView.open(nats, {
      onWatchError: (error) => logger.warn({ err: error }, "trainers watch dropped; opening it again"),
      onInvalid: (key, reason, detail) => rejections.reject("trainers", reason, { key, detail }),
      onChange: kick,
    });
    const sweeps = await SweepStore.open(nats, (key, reason, detail) => rejections.reject("sweeps", reason, { key, detail }));
    const clients = new TrainerClients(grpcAccess);
    const metrics = evaluatorMetrics(registry, () => store.active());
    const steering = new Steering(nats, store, trainers, clients, mnist, logger, rejections, sweeps, metrics);
    placement = new Placement(store, trainers, clients, steering, logger, (seconds) => metrics.placementSeconds.observe(seconds));
    const consuming = new AbortController();
    const consumer = consumeCheckpoints(nats, config.EVALUATOR_CONSUMER, (announcement) => steering.handle(announcement), {
      signal: consuming.signal,
      redeliverMs: config.EVALUATOR_REDELIVER_MS,
      onError: (error) => logger.error({ err: error }, "checkpoint handling failed; it will be redelivered"),
      onRejected: (reason, detail, bytes) => rejections.reject("checkpoints", reason, { detail, bytes }),
    }).catch((error: unknown) => logger.error({ err: error }, "checkpoint consumer stopped"));
    placement.start(config.EVALUATOR_PLACEMENT_INTERVAL_MS);
    return {
      services: [
        runServiceBinding(store, sweeps, steering, { ...mnistLimits, maxEpochs: config.EVALUATOR_MAX_EPOCHS }, (runId, signal) =>
          watchProgress(nats, runId, signal, (reason, detail) => rejections.reject("progress", reason, { run: runId, detail })),
        ),
      ],
      stop: async () => {
        consuming.abort();
        await placement!.stop();
        await Promise.all([consumer, store.close(), trainers.stop()]);
        clients.close();
        rejections.stop();
      },
    };
  },
});
