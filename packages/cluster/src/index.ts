export {
  announceFailure,
  announcementFault,
  checkpointObjectName,
  checkpointsBucket,
  checkpointStream,
  checkpointSubject,
  consumeCheckpoints,
  type ConsumeOptions,
  CorruptCheckpointError,
  deleteCheckpoint,
  latestObjectName,
  publishCheckpoint,
  readCheckpoint,
  reannounceCheckpoint,
} from "./checkpoints.js";
export { Heartbeat, heartbeatIntervalMs, leaseMs, liveTrainers, maxRunsPerTrainer, trainerFault, trainersBucket, trainerTtlMs } from "./trainers.js";
export { progressIntervalMs, progressSubject, publishProgress, throttled, watchProgress } from "./progress.js";
export { isTransientNatsError, retryWhileTransient } from "./retry.js";
export { kvKeys } from "./kv-keys.js";
