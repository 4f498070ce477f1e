import { fromBinary } from "@bufbuild/protobuf";
import { RunRecordSchema } from "@mnist/protocol";
import type { KV, NatsConnection } from "nats";
import { perConnection } from "./per-connection.js";

/** The JetStream KV bucket of run records (key: run id), which the evaluator writes. */
export const runsBucket = "runs";

// Bound, never created: only an evaluator creates the bucket, and a trainer holds no run before one has.
const openRuns = perConnection((nats): Promise<KV> => nats.jetstream().views.kv(runsBucket, { bindOnly: true }));

/**
 * The run's placement generation as its record says now: a read of the entry's latest revision
 * from the server, not a cached watch. Undefined when the record is gone.
 */
export async function recordedGeneration(nats: NatsConnection, runId: string): Promise<number | undefined> {
  const entry = await (await openRuns(nats)).get(runId);
  if (!entry || entry.operation !== "PUT") return undefined;
  return fromBinary(RunRecordSchema, entry.value).generation;
}
