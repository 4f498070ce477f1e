export {
  announceFailure,
  announcementFault,
  checkpointObjectName,
  checkpointObjectNames,
  type CheckpointStep,
  checkpointsBucket,
  checkpointStream,
  checkpointSubject,
  consumeCheckpoints,
  type ConsumeOptions,
  CorruptCheckpointError,
  defaultRedeliverMs,
  deleteCheckpoint,
  deleteRunCheckpoints,
  latestCheckpointName,
  LeaseLostError,
  latestObjectName,
  publishCheckpoint,
  type PublishOptions,
  readCheckpoint,
  readLatestCheckpoint,
  runObjectNames,
} from "./checkpoints.js";
export { Heartbeat, heartbeatIntervalMs, leaseMs, maxRunsPerTrainer, trainerFault, trainersBucket, trainerTtlMs, TrainerView, type TrainerViewOptions } from "./trainers.js";
export { recordedGeneration, runsBucket } from "./runs.js";
export { watchKv } from "./kv-watch.js";
export { followProgress, progressIntervalMs, progressSubject, publishProgress, throttled, watchProgress } from "./progress.js";
export { isTransientNatsError, retryWhileTransient } from "./retry.js";
export { kvKeys } from "./kv-keys.js";
export {
  augmentStatsIntervalMs,
  augmentStatsSubject,
  publishAugmentStats,
  REPLICA_ID_PATTERN,
  replicaStatsFault,
  ReplicaStatsView,
  type ReplicaStatsViewOptions,
} from "./replica-stats.js";
