export {
  checkpointObjectName,
  checkpointsBucket,
  checkpointStream,
  checkpointSubject,
  consumeCheckpoints,
  latestObjectName,
  publishCheckpoint,
  readCheckpoint,
} from "./checkpoints.js";
export { Heartbeat, heartbeatIntervalMs, liveTrainers, trainersBucket, trainerTtlMs } from "./trainers.js";
