// deploy/docker-compose.yml: every service of the pipeline's image runs a command the image's
// entrypoint accepts, with only variables that service reads, each value valid, on its own port.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseYamlDocuments, repoRoot } from "./manifests.js";
import { checkServiceEnv, entrypointCommands, entrypointProblem, imageEntrypoint, isServiceName, serviceNames, type ServiceName } from "./services.js";

const composePath = join(repoRoot, "deploy/docker-compose.yml");
const image = "mnist-pipeline";

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  env_file?: string | (string | { path: string; required?: boolean })[];
  ports?: (string | number | { target: number })[];
  expose?: (string | number)[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  stop_grace_period?: string;
}

/**
 * Compose's variable interpolation with nothing set in the environment, as on a fresh machine:
 * `${VAR:-default}` and `${VAR-default}` give the default, `${VAR}` and `$VAR` the empty string,
 * `$$` a dollar.
 */
function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, _braced, operator: string | undefined, fallback: string | undefined) =>
    match === "$$" ? "$" : operator ? (fallback ?? "") : "",
  );
}

function words(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (typeof value === "string" ? value.trim().split(/\s+/) : value).map(interpolate);
}

/** The variables a Compose service sets: its env_file(s), then `environment` (which wins). */
function composeEnv(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const files = service.env_file === undefined ? [] : typeof service.env_file === "string" ? [service.env_file] : service.env_file;
  for (const file of files) {
    const { path, required = true } = typeof file === "string" ? { path: file } : file;
    const full = resolve(dirname(composePath), path);
    if (!existsSync(full)) {
      if (required) throw new Error(`${composePath}: env_file ${path} does not exist`);
      continue;
    }
    for (const line of readFileSync(full, "utf8").split("\n")) {
      const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
      if (match) env[match[1]!] = interpolate(match[2]!.replace(/^(["'])(.*)\1$/, "$2"));
    }
  }
  const entries = Array.isArray(service.environment)
    ? service.environment.map((item) => (item.includes("=") ? [item.slice(0, item.indexOf("=")), item.slice(item.indexOf("=") + 1)] : [item, null]))
    : Object.entries(service.environment ?? {});
  // A name without a value passes the host's variable through; with nothing set, it is unset.
  for (const [name, value] of entries) if (value !== null && value !== undefined) env[name as string] = interpolate(String(value));
  return env;
}

/** The container side of a `ports` entry: "8080:50051", "127.0.0.1:8080:50051/tcp", 50051, { target }. */
function containerPort(entry: string | number | { target: number }): number {
  if (typeof entry === "number") return entry;
  if (typeof entry === "object") return entry.target;
  return Number(interpolate(entry).split("/")[0]!.split(":").at(-1));
}

/** "12s", "1m30s", "500ms" in milliseconds. */
function durationMs(value: string): number {
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/([0-9.]+)(ms|us|h|m|s)/g)) total += Number(amount) * { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 }[unit as "h"];
  return total;
}

describe("deploy/docker-compose.yml agrees with the services", () => {
  const compose = parseYamlDocuments(readFileSync(composePath, "utf8"), composePath, { merge: true })[0] as { services: Record<string, ComposeService> };

  /** Services of the pipeline's image, by Compose name, with the service each runs (its command's first word). */
  function pipelineServices(): { name: string; definition: ComposeService; service: ServiceName }[] {
    return Object.entries(compose.services)
      .filter(([, definition]) => definition.image?.split(/[:@]/)[0]!.split("/").at(-1) === image)
      .map(([name, definition]) => {
        const service = words(definition.command)[0];
        if (!isServiceName(service)) throw new Error(`${composePath}: service ${name} runs ${JSON.stringify(definition.command)}, not one of ${serviceNames.join(", ")}`);
        return { name, definition, service };
      });
  }

  it("parses, and runs each of the three services of the pipeline's image", () => {
    expect(Object.keys(compose.services).length).toBeGreaterThan(0);
    expect(pipelineServices().map(({ service }) => service).sort()).toEqual([...serviceNames].sort());
  });

  it("gives the image's entrypoint, deploy/docker-entrypoint.sh, commands it accepts, healthchecks included", () => {
    const entrypoint = imageEntrypoint();
    expect(entrypoint.at(-1), "deploy/Dockerfile's ENTRYPOINT").toMatch(/\/deploy\/docker-entrypoint\.sh$/);
    const accepted = entrypointCommands();
    for (const { name, definition, service } of pipelineServices()) {
      // An `entrypoint` would bypass the script that picks the program from the command.
      expect(definition.entrypoint, `${name}: entrypoint`).toBeUndefined();
      expect(entrypointProblem(words(definition.command), accepted), `${name}: command`).toBeUndefined();
      // Every service of the pipeline has a healthcheck: its gRPC health, asked through the entrypoint.
      const healthcheck = definition.healthcheck;
      expect(healthcheck?.test, `${name}: healthcheck`).toBeDefined();
      expect(healthcheck!.disable, `${name}: healthcheck disabled`).toBeFalsy();
      // test: "CMD-SHELL cmd", ["CMD", prog, args...], ["CMD-SHELL", "cmd"] or a plain string (CMD-SHELL).
      const test = Array.isArray(healthcheck!.test)
        ? healthcheck!.test[0] === "CMD-SHELL"
          ? words(healthcheck!.test[1])
          : words(healthcheck!.test.slice(1))
        : words(healthcheck!.test);
      const script = test.findIndex((word) => word.endsWith("/docker-entrypoint.sh"));
      expect(test[script], `${name}: healthcheck runs the image's entrypoint`).toBe(entrypoint.at(-1));
      const args = test.slice(script + 1);
      expect(entrypointProblem(args, accepted), `${name}: healthcheck ${args.join(" ")}`).toBeUndefined();
      // Probing another service's default port would report this one unhealthy.
      expect(args, `${name}: healthcheck`).toEqual(["healthcheck", service]);
    }
  });

  it("sets only variables each service reads, with values it accepts, and NATS_URL names the Compose NATS service", () => {
    for (const { name, definition, service } of pipelineServices()) {
      const env = composeEnv(definition);
      expect(checkServiceEnv(service, env).problems, name).toEqual([]);
      expect(env.NATS_URL, `${name}: NATS_URL (the default 127.0.0.1 is the container itself)`).toBeDefined();
      for (const url of env.NATS_URL!.split(",")) {
        const nats = compose.services[new URL(url).hostname];
        expect(nats?.image ?? "(no such service)", `${name}: NATS_URL ${url} names a Compose service running NATS`).toMatch(/^nats[:@]/);
      }
    }
  });

  it("takes the bearer token from a Compose secret mounted as a file, never from an environment value", () => {
    const secrets = (compose as { secrets?: Record<string, { file?: string }> }).secrets ?? {};
    expect(secrets.auth_token?.file, "secrets.auth_token.file").toBeDefined();
    for (const { name, definition } of pipelineServices()) {
      const env = composeEnv(definition);
      expect(env.AUTH_TOKEN, `${name}: AUTH_TOKEN`).toBeUndefined();
      expect(env.AUTH_TOKEN_FILE, `${name}: AUTH_TOKEN_FILE`).toBe("/run/secrets/auth_token");
      expect((definition as { secrets?: (string | { source: string })[] }).secrets?.map((secret) => (typeof secret === "string" ? secret : secret.source)), `${name}: secrets`).toContain("auth_token");
    }
  });

  it("publishes each service's own gRPC port (and the evaluator's dashboard), and gives it time for its graceful stop", () => {
    for (const { name, definition, service } of pipelineServices()) {
      const { config } = checkServiceEnv(service, composeEnv(definition));
      const ports = [config!.GRPC_PORT, ...(service === "evaluator" ? [Number(config!.DASHBOARD_PORT)] : [])];
      const published = [...(definition.ports ?? []), ...(definition.expose ?? []).map((port) => Number(port))].map((entry) => containerPort(entry));
      for (const port of published) expect(ports, `${name}: published port ${port}`).toContain(port);
      if (service === "evaluator") expect(published.sort(), `${name}: published ports`).toEqual(ports.sort());
      // On this machine's loopback unless PUBLISH_ADDRESS says otherwise: without a token, whoever reaches them steers every run.
      for (const entry of definition.ports ?? []) expect(typeof entry === "string" ? interpolate(entry) : entry, `${name}: published on`).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      // Compose's default is 10 s; SIGKILL before SHUTDOWN_GRACE_MS cuts the graceful stop short.
      expect(durationMs(definition.stop_grace_period ?? "10s"), `${name}: stop_grace_period vs SHUTDOWN_GRACE_MS`).toBeGreaterThan(config!.SHUTDOWN_GRACE_MS);
    }
  });

  it("the helpers read Compose's forms: interpolation defaults, port mappings, durations", () => {
    expect(interpolate("${EVALUATOR_PORT:-50051}:50051")).toBe("50051:50051");
    expect(interpolate("a$${B}${C}$D")).toBe("a${B}");
    expect(containerPort("127.0.0.1:${P-8080}:50052/tcp")).toBe(50052);
    expect(containerPort({ target: 50053 })).toBe(50053);
    expect(durationMs("1m30s")).toBe(90_000);
    expect(composeEnv({ environment: ["A=1", "B", "C=x=y"] })).toEqual({ A: "1", C: "x=y" });
  });
});
