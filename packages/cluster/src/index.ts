export {
  announceFailure,
  checkpointObjectName,
  checkpointsBucket,
  checkpointStream,
  checkpointSubject,
  consumeCheckpoints,
  CorruptCheckpointError,
  deleteCheckpoint,
  latestObjectName,
  publishCheckpoint,
  readCheckpoint,
  reannounceCheckpoint,
} from "./checkpoints.js";
export { Heartbeat, heartbeatIntervalMs, leaseMs, liveTrainers, trainersBucket, trainerTtlMs } from "./trainers.js";
export { progressIntervalMs, progressSubject, publishProgress, throttled, watchProgress } from "./progress.js";
export { isTransientNatsError, retryWhileTransient } from "./retry.js";
export { kvKeys } from "./kv-keys.js";
