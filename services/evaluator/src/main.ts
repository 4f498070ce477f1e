#!/usr/bin/env node
import { bind } from "@mnist/grpc";
import { RunService } from "@mnist/protocol";
import { runService } from "@mnist/runtime";

await runService({
  name: "evaluator",
  defaultGrpcPort: 50051,
  env: {},
  start: async () => ({ services: [bind(RunService, {})] }),
});
