#!/usr/bin/env node
import { runService } from "@mnist/runtime";

// The augment replicas answer slice requests over NATS; gRPC carries only health and reflection.
await runService({
  name: "augment",
  defaultGrpcPort: 50053,
  env: {},
  start: async () => ({ services: [] }),
});
