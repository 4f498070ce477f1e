import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { startNatsServer } from "./nats-server.js";

/** Starts one real `nats-server -js` on a free loopback port with a temporary store for the whole test run. */

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
  }
}

const builtEntryPoints = ["services/augment/dist/main.js", "services/trainer/dist/main.js", "services/evaluator/dist/main.js", "cli/dist/main.js"];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const unbuilt = builtEntryPoints.filter((path) => !existsSync(join(root, path)));
  if (unbuilt.length > 0) throw new Error(`${unbuilt.join(", ")} missing: run \`npm run build\` before \`npm test\``);
  const server = await startNatsServer();
  project.provide("natsUrl", server.url);
  return () => server.stop();
}
