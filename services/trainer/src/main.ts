#!/usr/bin/env node
import { hostname } from "node:os";
import { setBlasThreads } from "@mnist/core";
import { runService } from "@mnist/runtime";
import { trainerEnv, trainerGrpcPort } from "./config.js";
import { trainerMetrics } from "./metrics.js";
import { RunManager } from "./run-manager.js";
import { trainerService } from "./trainer-service.js";

await runService({
  name: "trainer",
  defaultGrpcPort: trainerGrpcPort,
  env: trainerEnv,
  start: async ({ config, logger, nats, metrics, rejections }) => {
    setBlasThreads(config.TRAINER_BLAS_THREADS);
    const manager: RunManager = new RunManager(nats, logger.child({ trainer: config.TRAINER_ID }), {
      trainerId: config.TRAINER_ID,
      maxRuns: config.TRAINER_MAX_RUNS,
      sliceRequestTimeoutMs: config.TRAINER_SLICE_REQUEST_TIMEOUT_MS,
      sliceDeliveryTimeoutMs: config.TRAINER_SLICE_DELIVERY_TIMEOUT_MS,
      maxSlicesInFlight: config.TRAINER_SLICES_IN_FLIGHT,
      failpoint: config.TRAINER_FAILPOINT,
    }, rejections, trainerMetrics(metrics, () => manager.runCount));
    return {
      services: [trainerService(manager, config.TRAINER_MAX_RUNS)],
      listening: async ({ port }) => {
        const unspecified = config.GRPC_HOST === "0.0.0.0" || config.GRPC_HOST === "::";
        const host = config.TRAINER_ADVERTISE_HOST || (unspecified ? hostname() : config.GRPC_HOST);
        await manager.announce(`${host}:${port}`);
        logger.info({ trainer: config.TRAINER_ID, address: `${host}:${port}`, maxRuns: config.TRAINER_MAX_RUNS }, "trainer announced");
      },
      stop: async () => {
        await manager.stopAll("trainer shutting down");
      },
    };
  },
});
