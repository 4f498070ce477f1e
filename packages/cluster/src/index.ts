export {
  announceFailure,
  checkpointObjectName,
  checkpointsBucket,
  checkpointStream,
  checkpointSubject,
  consumeCheckpoints,
  deleteCheckpoint,
  latestObjectName,
  publishCheckpoint,
  readCheckpoint,
  reannounceCheckpoint,
} from "./checkpoints.js";
export { Heartbeat, heartbeatIntervalMs, liveTrainers, trainersBucket, trainerTtlMs } from "./trainers.js";
export { progressIntervalMs, progressSubject, publishProgress, throttled, watchProgress } from "./progress.js";
