#!/usr/bin/env node
import { bind } from "@mnist/grpc";
import { TrainerService } from "@mnist/protocol";
import { env, runService } from "@mnist/runtime";

await runService({
  name: "trainer",
  defaultGrpcPort: 50052,
  env: { TRAINER_MAX_RUNS: env.integer({ min: 1, max: 64, default: 1 }) },
  start: async () => ({ services: [bind(TrainerService, {})] }),
});
