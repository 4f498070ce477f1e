#!/usr/bin/env node
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setBlasThreads } from "@mnist/core";
import { env, runService } from "@mnist/runtime";
import { RunManager } from "./run-manager.js";
import { trainerService } from "./trainer-service.js";

await runService({
  name: "trainer",
  defaultGrpcPort: 50052,
  env: {
    TRAINER_MAX_RUNS: env.integer({ min: 1, max: 64, default: 1 }),
    // Unique per process by default, so a restarted trainer is a new trainer to the evaluator.
    TRAINER_ID: env.string({ default: `${hostname()}-${randomBytes(3).toString("hex")}` }),
    // How the evaluator reaches this trainer's gRPC (host, without the port): in Kubernetes the pod IP.
    TRAINER_ADVERTISE_HOST: env.string({ default: "" }),
    TRAINER_BLAS_THREADS: env.integer({ min: 1, max: 64, default: 1 }),
    TRAINER_SLICE_REQUEST_TIMEOUT_MS: env.integer({ min: 100, max: 600_000, default: 5_000 }),
    TRAINER_SLICE_DELIVERY_TIMEOUT_MS: env.integer({ min: 1_000, max: 3_600_000, default: 120_000 }),
    TRAINER_SLICES_IN_FLIGHT: env.integer({ min: 1, max: 256, default: 4 }),
  },
  start: async ({ config, logger, nats }) => {
    setBlasThreads(config.TRAINER_BLAS_THREADS);
    const manager = new RunManager(nats, logger.child({ trainer: config.TRAINER_ID }), {
      trainerId: config.TRAINER_ID,
      maxRuns: config.TRAINER_MAX_RUNS,
      sliceRequestTimeoutMs: config.TRAINER_SLICE_REQUEST_TIMEOUT_MS,
      sliceDeliveryTimeoutMs: config.TRAINER_SLICE_DELIVERY_TIMEOUT_MS,
      maxSlicesInFlight: config.TRAINER_SLICES_IN_FLIGHT,
    });
    return {
      services: [trainerService(manager, config.TRAINER_ID, config.TRAINER_MAX_RUNS)],
      listening: async ({ port }) => {
        const unspecified = config.GRPC_HOST === "0.0.0.0" || config.GRPC_HOST === "::";
        const host = config.TRAINER_ADVERTISE_HOST || (unspecified ? hostname() : config.GRPC_HOST);
        await manager.announce(`${host}:${port}`);
        logger.info({ trainer: config.TRAINER_ID, address: `${host}:${port}`, maxRuns: config.TRAINER_MAX_RUNS }, "trainer announced");
      },
      stop: () => manager.stopAll("trainer shutting down"),
    };
  },
});
