import { defineConfig } from "vitest/config";

// npm run test:faults: the fault suite, apart from npm test (minutes, not seconds).
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    globalSetup: ["test/harness/global-setup.ts"],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    // One cluster at a time: the faults' timing (heartbeat TTLs) must not depend on a neighbour's load.
    fileParallelism: false,
    maxWorkers: 1,
  },
});
