// The trainer service's environment variables, apart from main.ts so that importing them (the
// deployment tests check manifests against this spec) does not start the service.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { maxRunsPerTrainer } from "@mnist/cluster";
import { ConfigError, env, type Variable } from "@mnist/runtime";
import type { Failpoint } from "./run-manager.js";

export const trainerGrpcPort = 50052;

/** STEP@EPOCH: where a test stops the trainer (see TRAINER_FAILPOINT); empty, never. */
const failpoint: Variable<Failpoint | undefined> = {
  parse(raw, name) {
    if (raw === undefined || raw.trim() === "") return undefined;
    const match = /^(write|announce)@(\d{1,6})$/.exec(raw.trim());
    if (!match) throw new ConfigError(name, raw, "empty, or STEP@EPOCH with STEP write or announce (before storing or before announcing that epoch's checkpoint), e.g. write@3");
    return { step: match[1] as Failpoint["step"], epoch: Number(match[2]) };
  },
};

export const trainerEnv = {
  TRAINER_MAX_RUNS: env.integer({ min: 1, max: maxRunsPerTrainer, default: 1 }),
  // Unique per process by default, so a restarted trainer is a new trainer to the evaluator.
  TRAINER_ID: env.string({ default: `${hostname()}-${randomBytes(3).toString("hex")}` }),
  // How the evaluator reaches this trainer's gRPC (host, without the port): in Kubernetes the pod IP.
  TRAINER_ADVERTISE_HOST: env.string({ default: "" }),
  TRAINER_BLAS_THREADS: env.integer({ min: 1, max: 64, default: 1 }),
  TRAINER_SLICE_REQUEST_TIMEOUT_MS: env.integer({ min: 100, max: 600_000, default: 5_000 }),
  TRAINER_SLICE_DELIVERY_TIMEOUT_MS: env.integer({ min: 1_000, max: 3_600_000, default: 120_000 }),
  TRAINER_SLICES_IN_FLIGHT: env.integer({ min: 1, max: 256, default: 4 }),
  // For fault tests only: the process stops itself with SIGSTOP (as a long GC pause or a frozen VM
  // would) just before that step of that epoch's checkpoint, once, and carries on at SIGCONT.
  TRAINER_FAILPOINT: failpoint,
};
