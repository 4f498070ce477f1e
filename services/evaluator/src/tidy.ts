import { checkpointObjectNames, deleteCheckpoint, deleteRunCheckpoints } from "@mnist/cluster";
import type { Logger } from "@mnist/runtime";
import type { NatsConnection } from "nats";
import type { RunStore } from "./run-store.js";

/**
 * What an interrupted DeleteRun left behind (an evaluator killed in the middle of one): runs marked
 * deleting have their checkpoints and then their record removed; checkpoint objects of runs that
 * have no record are removed. The object names are read before the records are asked about: a run
 * created meanwhile has a record before it has any object, so none of its objects is taken.
 */
export async function tidyDeletions(nats: NatsConnection, store: RunStore, logger: Logger): Promise<void> {
  for (const runId of store.deleting()) {
    const checkpoints = await deleteRunCheckpoints(nats, runId);
    await store.remove(runId);
    logger.info({ run: runId, checkpoints }, "finished deleting a run whose deletion was interrupted");
  }
  const runOf = (name: string) => (name.includes("/") ? name.slice(0, name.indexOf("/")) : name);
  const orphans = (await checkpointObjectNames(nats)).filter((name) => !store.has(runOf(name)));
  let removed = 0;
  for (const name of orphans) if (await deleteCheckpoint(nats, name)) removed++;
  if (orphans.length > 0) logger.info({ objects: removed, runs: new Set(orphans.map(runOf)).size }, "removed checkpoint objects of runs that have no record");
}
