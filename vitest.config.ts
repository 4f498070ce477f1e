import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "services/*/test/**/*.test.ts", "cli/test/**/*.test.ts", "test/**/*.test.ts"],
    // The fault suite has its own command (npm run test:faults, vitest.faults.config.ts).
    exclude: ["**/node_modules/**", "test/faults/**"],
    globalSetup: ["test/harness/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Native training saturates a core; two workers on this 2-core machine.
    maxWorkers: 2,
  },
});
