// What the deployment manifests have to agree with: each service's environment variables
// (the same specs the services load at start-up) and the image entrypoint's commands.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { commonSpec, ConfigError, loadConfig, type CommonConfig, type EnvSpec } from "@mnist/runtime";
import { augmentEnv, augmentGrpcPort } from "../../services/augment/src/config.js";
import { evaluatorEnv, evaluatorGrpcPort } from "../../services/evaluator/src/config.js";
import { trainerEnv, trainerGrpcPort } from "../../services/trainer/src/config.js";
import { repoRoot } from "./manifests.js";

export type ServiceName = "augment" | "trainer" | "evaluator";
export const serviceNames: readonly ServiceName[] = ["augment", "trainer", "evaluator"];

/** Each service's full spec, as runService merges it: the common variables, then its own. */
export function serviceSpec(service: ServiceName): EnvSpec<CommonConfig & Record<string, unknown>> {
  const [own, port] = {
    augment: [augmentEnv, augmentGrpcPort] as const,
    trainer: [trainerEnv, trainerGrpcPort] as const,
    evaluator: [evaluatorEnv, evaluatorGrpcPort] as const,
  }[service];
  return { ...commonSpec(port), ...own } as EnvSpec<CommonConfig & Record<string, unknown>>;
}

export function isServiceName(name: unknown): name is ServiceName {
  return serviceNames.includes(name as ServiceName);
}

/**
 * Loads a service's configuration from exactly the variables a manifest gives it (never this
 * process's environment), as the service would at start-up: returns the configuration, or the
 * problems (a variable the service does not read, a value it refuses).
 */
export function checkServiceEnv(service: ServiceName, variables: Record<string, string>): { config?: CommonConfig & Record<string, unknown>; problems: string[] } {
  const spec = serviceSpec(service);
  // A secret may come from a file instead (NAME_FILE, a mounted secret): known, but the file is the container's.
  const secretFile = (name: string) => name.endsWith("_FILE") && spec[name.slice(0, -"_FILE".length)]?.secret === true;
  const unknown = Object.keys(variables).filter((name) => !(name in spec) && !secretFile(name));
  const problems = unknown.map((name) => `${service}: ${name} is not a variable the ${service} service reads (it reads ${Object.keys(spec).join(", ")})`);
  try {
    return { config: loadConfig(spec, Object.fromEntries(Object.entries(variables).filter(([name]) => !secretFile(name)))), problems };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { problems: [...problems, `${service}: ${error.message}`] };
  }
}

export const entrypointPath = join(repoRoot, "deploy/docker-entrypoint.sh");

export interface EntrypointCommands {
  /** The first arguments the entrypoint accepts. */
  commands: Set<string>;
  /** What `healthcheck` accepts as its second argument ("" for none). */
  healthcheckTargets: Set<string>;
}

/** The case patterns of a shell `case "${N:-}" in … esac` block, without the catch-all `*`. */
function casePatterns(lines: string[], selector: string): Set<string> {
  const start = lines.findIndex((line) => line.trim() === `case "\${${selector}:-}" in`);
  if (start < 0) throw new Error(`${entrypointPath}: no case "\${${selector}:-}" block`);
  const indent = lines[start]!.search(/\S/) + 2;
  const patterns = new Set<string>();
  for (const line of lines.slice(start + 1)) {
    if (line.search(/\S/) === indent - 2 && line.trim() === "esac") break;
    if (line.search(/\S/) !== indent) continue;
    const arm = /^\s*([^()]+)\)/.exec(line);
    if (!arm) continue;
    for (const pattern of arm[1]!.split("|").map((part) => part.trim().replace(/^"(.*)"$/, "$1"))) {
      if (pattern !== "*") patterns.add(pattern);
    }
  }
  return patterns;
}

/** The commands deploy/docker-entrypoint.sh accepts, read from its case arms. */
export function entrypointCommands(): EntrypointCommands {
  const lines = readFileSync(entrypointPath, "utf8").split("\n");
  return { commands: casePatterns(lines, "1"), healthcheckTargets: casePatterns(lines, "2") };
}

/** Why the entrypoint would refuse these arguments, or undefined when it accepts them. */
export function entrypointProblem(args: readonly string[], accepted: EntrypointCommands): string | undefined {
  const [command, target, ...extra] = args;
  if (command === undefined || !accepted.commands.has(command)) {
    return `the entrypoint refuses command ${JSON.stringify(command ?? "")}: it accepts ${[...accepted.commands].join(", ")}`;
  }
  if (command === "healthcheck" && (!accepted.healthcheckTargets.has(target ?? "") || extra.length > 0)) {
    return `the entrypoint's healthcheck refuses ${JSON.stringify(args.slice(1).join(" "))}: it accepts ${[...accepted.healthcheckTargets].map((name) => name || "nothing").join(", ")}`;
  }
  return undefined;
}

/** Runs the real entrypoint against this repository's build (MNIST_APP_DIR). */
export function runEntrypoint(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("sh", [entrypointPath, ...args], { encoding: "utf8", env: { ...process.env, MNIST_APP_DIR: repoRoot }, timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The image's ENTRYPOINT from deploy/Dockerfile (its exec form): the commands manifests give the image go to this program. */
export function imageEntrypoint(): string[] {
  const dockerfile = join(repoRoot, "deploy/Dockerfile");
  const line = readFileSync(dockerfile, "utf8")
    .split("\n")
    .filter((candidate) => /^ENTRYPOINT\s/i.test(candidate))
    .at(-1);
  if (!line) throw new Error(`${dockerfile}: no ENTRYPOINT`);
  return JSON.parse(line.replace(/^ENTRYPOINT\s+/i, "")) as string[];
}
