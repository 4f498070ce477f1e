import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
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

/**
 * What each build step makes from what: the tests run the built services and CLI, so a source
 * edited after its build would test the old code. A build is stale when one of its inputs is
 * newer than its oldest output (tsc -b touches a project's tsbuildinfo even when it had nothing
 * to emit; node-gyp rewrites its outputs) — or, for buf, which leaves a file alone when its
 * content would not change, newer than its newest output.
 */
const builds: { step: string; inputs: string[]; outputs: string[]; against?: "newest" }[] = [
  { step: "npm run generate", inputs: ["proto", "buf.gen.yaml"], outputs: ["packages/protocol/src/gen"], against: "newest" },
  { step: "npm run build:native", inputs: ["packages/core/native", "packages/core/binding.gyp"], outputs: ["packages/core/build/Release/mnist_core.node"] },
  {
    step: "npm run build:native",
    // The augment addon compiles the core's rng.h and napi_checks.h too.
    inputs: ["packages/augment/native", "packages/augment/binding.gyp", "packages/core/native/rng.h", "packages/core/native/napi_checks.h"],
    outputs: ["packages/augment/build/Release/mnist_augment.node"],
  },
  ...[
    "packages/protocol",
    "packages/runtime",
    "packages/grpc",
    "packages/core",
    "packages/training",
    "packages/cluster",
    "packages/augment",
    "services/augment",
    "services/trainer",
    "services/evaluator",
    "cli",
  ].map((project) => ({ step: "npx tsc -b", inputs: [`${project}/src`, `${project}/tsconfig.json`], outputs: [`${project}/tsconfig.tsbuildinfo`] })),
  // The dashboard's browser code (its tsbuildinfo lands in its outDir).
  { step: "npx tsc -b", inputs: ["services/evaluator/web-src"], outputs: ["services/evaluator/dist/web/tsconfig.tsbuildinfo"] },
];

/** Every file at `path` (itself, or under it), with its modification time. */
function files(path: string): { path: string; mtimeMs: number }[] {
  if (!existsSync(path)) return [];
  const stat = statSync(path);
  if (!stat.isDirectory()) return [{ path, mtimeMs: stat.mtimeMs }];
  return readdirSync(path).flatMap((entry) => files(join(path, entry)));
}

/** The inputs newer than their build, each with the step that rebuilds it; a missing build counts as older than everything. */
function staleInputs(root: string): { input: string; step: string }[] {
  return builds.flatMap(({ step, inputs, outputs, against }) => {
    const built = outputs.flatMap((output) => {
      const made = files(join(root, output));
      return made.length > 0 ? made : [{ path: output, mtimeMs: -Infinity }];
    });
    const builtAt = (against === "newest" ? Math.max : Math.min)(...built.map((file) => file.mtimeMs));
    return inputs
      .flatMap((input) => files(join(root, input)))
      .filter((file) => file.mtimeMs > builtAt)
      .map((file) => ({ input: relative(root, file.path), step }));
  });
}

/** Ends the run with one line: a thrown error would come with vitest's banner and a stack of its own. */
function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const unbuilt = builtEntryPoints.filter((path) => !existsSync(join(root, path)));
  if (unbuilt.length > 0) fail(`${unbuilt.join(", ")} missing: run \`npm run build\` before the tests`);
  const stale = staleInputs(root);
  if (stale.length > 0) {
    const steps = [...new Set(stale.map(({ step }) => step))].map((step) => `\`${step}\``);
    const named = stale.slice(0, 3).map(({ input }) => input);
    const more = stale.length > named.length ? ` and ${stale.length - named.length} more` : "";
    fail(`the build is older than its sources (${named.join(", ")}${more}): run \`npm run build\` (or ${steps.join(", ")}) before the tests`);
  }
  const server = await startNatsServer();
  project.provide("natsUrl", server.url);
  return () => server.stop();
}
