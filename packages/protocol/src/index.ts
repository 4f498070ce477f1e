// The single entry to the generated protocol: written code imports from here, never from gen/.
import { file_grpc_health_v1_health } from "./gen/grpc/health/v1/health_pb.js";
import { file_mnist_v1_augment } from "./gen/mnist/v1/augment_pb.js";
import { file_mnist_v1_network } from "./gen/mnist/v1/network_pb.js";
import { file_mnist_v1_run, type EpochMetrics } from "./gen/mnist/v1/run_pb.js";
import { file_mnist_v1_trainer } from "./gen/mnist/v1/trainer_pb.js";

export * from "./gen/grpc/health/v1/health_pb.js";
export * from "./gen/mnist/v1/augment_pb.js";
export * from "./gen/mnist/v1/network_pb.js";
export * from "./gen/mnist/v1/run_pb.js";
export * from "./gen/mnist/v1/trainer_pb.js";

/** Every file of the protocol, for server reflection. */
export const protocolFiles = [
  file_grpc_health_v1_health,
  file_mnist_v1_network,
  file_mnist_v1_augment,
  file_mnist_v1_run,
  file_mnist_v1_trainer,
] as const;

/**
 * What a run id may be, everywhere it travels: a KV key (no ':' or '.'), a NATS subject token, an
 * object name prefix. The evaluator makes them as `run-<time>-<hex>`.
 */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** RUN_ID_PATTERN in words, for error messages. */
export const RUN_ID_ALLOWED = "a run id such as run-mwyzgxob-d1ff3c (mnistctl list shows them): 1 to 128 letters, digits, '_' or '-', first a letter or digit";

/**
 * An epoch's figures as JSON lines carry them (the evaluator's "epoch" log line, `mnistctl run
 * --json` and `watch --json`): these names, in this order; the optional ones only when measured.
 * A line adds its own context (run, msg) and the decision.
 */
export const epochJsonFields = [
  "epoch",
  "eta",
  "valAccuracy",
  "valCost",
  "trainCost",
  "trainAccuracy",
  "testAccuracy",
  "testCost",
  "trainSeconds",
  "imagesPerSecond",
  "restoreEpoch",
] as const satisfies readonly (keyof EpochMetrics)[];
export type EpochJsonField = (typeof epochJsonFields)[number];

/** The epoch's figures for a JSON line: each of epochJsonFields it has, in that order. */
export function epochJson(metrics: EpochMetrics): Partial<Record<EpochJsonField, number>> {
  const fields: Partial<Record<EpochJsonField, number>> = {};
  for (const field of epochJsonFields) {
    const value = metrics[field];
    if (value !== undefined) fields[field] = value;
  }
  return fields;
}
export { enumValueName, fromNamedJson, toNamedJson } from "./named-json.js";
