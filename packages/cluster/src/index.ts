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
