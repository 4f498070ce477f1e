import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { CheckpointAnnouncementSchema, RUN_ID_PATTERN, RunCheckpointSchema, type CheckpointAnnouncement, type RunCheckpoint } from "@mnist/protocol";
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JsMsg, type NatsConnection, type ObjectStore } from "nats";
import { perConnection } from "./per-connection.js";

export const checkpointsBucket = "checkpoints";
export const checkpointStream = "CHECKPOINTS";
export const checkpointSubject = (runId: string) => `mnist.checkpoints.${runId}`;

export function checkpointObjectName(runId: string, epoch: number): string {
  return `${runId}/epoch-${String(epoch).padStart(5, "0")}`;
}

/**
 * The copy of an epoch's checkpoint a resuming trainer reads (epoch objects are pruned by the
 * evaluator). One per epoch, and the newest wins: a trainer paused in the middle of storing one
 * (SIGSTOP, a long GC) finishes the write when it wakes, after a newer trainer has gone on, and an
 * object of one fixed name would then hold the older epoch.
 */
export function latestObjectName(runId: string, epoch: number): string {
  return `${runId}/latest-${String(epoch).padStart(5, "0")}`;
}

const latestPattern = /\/latest-(\d{5})$/;

const checkpointStore = perConnection((nats): Promise<ObjectStore> => nats.jetstream().views.os(checkpointsBucket));

const ensureStream = perConnection(async (nats): Promise<JetStreamClient> => {
  const manager = await nats.jetstreamManager();
  try {
    await manager.streams.info(checkpointStream);
  } catch {
    await manager.streams.add({ name: checkpointStream, subjects: ["mnist.checkpoints.>"] });
  }
  return nats.jetstream();
});

async function announce(nats: NatsConnection, announcement: CheckpointAnnouncement, messageId: string): Promise<void> {
  const js = await ensureStream(nats);
  // The message id makes a re-announcement (a resumed trainer repeating itself) a no-op.
  await js.publish(checkpointSubject(announcement.runId), toBinary(CheckpointAnnouncementSchema, announcement), { msgID: messageId });
}

/** The trainer's lease on the run lapsed while it stored a checkpoint: it must stop writing for the run. */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  readonly code = "LEASE_LOST";
}

/**
 * Stores an epoch's checkpoint (as its epoch object and as the run's latest), then announces
 * it. Announcing again after a crash is safe: the stream drops the duplicate. `holding` is asked
 * before every write: a trainer paused in the middle (past its heartbeat's TTL) must not go on
 * writing for a run that is another trainer's now (LeaseLostError).
 */
export async function publishCheckpoint(nats: NatsConnection, checkpoint: RunCheckpoint, trainerId: string, holding: () => boolean = () => true): Promise<CheckpointAnnouncement> {
  const store = await checkpointStore(nats);
  const bytes = toBinary(RunCheckpointSchema, checkpoint);
  const objectName = checkpointObjectName(checkpoint.runId, checkpoint.epoch);
  const step = async (write: () => Promise<unknown>) => {
    if (!holding()) throw new LeaseLostError(`lease on run ${checkpoint.runId} lapsed while storing epoch ${checkpoint.epoch}'s checkpoint`);
    await write();
  };
  // Both copies at once: each put is a chain of round trips to the server.
  await Promise.all([step(() => store.putBlob({ name: objectName }, bytes)), step(() => store.putBlob({ name: latestObjectName(checkpoint.runId, checkpoint.epoch) }, bytes))]);
  // The copy before it is superseded (the epoch object, if the evaluator kept it, stays).
  if (checkpoint.epoch > 0) await step(() => deleteCheckpoint(nats, latestObjectName(checkpoint.runId, checkpoint.epoch - 1)));
  const announcement = announcementOf(checkpoint, trainerId);
  await step(() => announce(nats, announcement, `${checkpoint.runId}/${checkpoint.epoch}`));
  return announcement;
}

/** Re-announces a stored checkpoint (after a crash between storing and announcing it). */
export async function reannounceCheckpoint(nats: NatsConnection, checkpoint: RunCheckpoint, trainerId: string): Promise<void> {
  await announce(nats, announcementOf(checkpoint, trainerId), `${checkpoint.runId}/${checkpoint.epoch}`);
}

function announcementOf(checkpoint: RunCheckpoint, trainerId: string): CheckpointAnnouncement {
  return create(CheckpointAnnouncementSchema, {
    runId: checkpoint.runId,
    epoch: checkpoint.epoch,
    eta: checkpoint.eta,
    trainSeconds: checkpoint.trainSeconds,
    imagesPerSecond: checkpoint.imagesPerSecond,
    objectName: checkpointObjectName(checkpoint.runId, checkpoint.epoch),
    trainerId,
    blasThreads: checkpoint.blasThreads,
  });
}

/** Tells the evaluator that training an epoch failed and the run cannot go on. */
export async function announceFailure(nats: NatsConnection, failure: MessageInitShape<typeof CheckpointAnnouncementSchema> & { runId: string; epoch: number; error: string }): Promise<void> {
  await announce(nats, create(CheckpointAnnouncementSchema, failure), `${failure.runId}/${failure.epoch}/failed`);
}

/** A stored checkpoint that does not decode: no retry will make it readable. */
export class CorruptCheckpointError extends Error {
  override readonly name = "CorruptCheckpointError";
  readonly code = "CORRUPT_DATA";
}

export async function readCheckpoint(nats: NatsConnection, objectName: string): Promise<RunCheckpoint | undefined> {
  const bytes = await (await checkpointStore(nats)).getBlob(objectName);
  if (!bytes) return undefined;
  try {
    return fromBinary(RunCheckpointSchema, bytes);
  } catch (error) {
    throw new CorruptCheckpointError(`checkpoint ${objectName} (${bytes.length} bytes) does not decode: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The object store's stream, and the subjects of its objects' metadata (one per name: base64url with padding, as nats.js writes them). */
const objectStream = `OBJ_${checkpointsBucket}`;
const metaPrefix = `$O.${checkpointsBucket}.M.`;
// One manager per connection: jetstreamManager() asks the server for its account info each time, and
// the evaluator deletes checkpoints every epoch.
const objectManager = perConnection(async (nats) => {
  await checkpointStore(nats); // creates the bucket's stream if it is not there yet
  return nats.jetstreamManager();
});
const metaSubject = (name: string) => {
  const encoded = Buffer.from(name, "utf8").toString("base64url");
  return `${metaPrefix}${encoded}${"=".repeat((4 - (encoded.length % 4)) % 4)}`;
};

/**
 * The names of the run's checkpoint objects, from the stream's subject index. Not
 * ObjectStore.list(): that replays every object's metadata and returns only once nothing is
 * pending, which never happens while trainers store checkpoints faster than a large store replays
 * (seen with ~2,000 objects: list() still pending after minutes, and DeleteRun hung on it).
 */
async function runObjectNames(nats: NatsConnection, runId: string): Promise<string[]> {
  const subjects = (await (await objectManager(nats)).streams.info(objectStream, { subjects_filter: `${metaPrefix}>` })).state.subjects ?? {};
  return Object.keys(subjects)
    .map((subject) => Buffer.from(subject.slice(metaPrefix.length), "base64url").toString("utf8"))
    .filter((name) => name.startsWith(`${runId}/`));
}

async function isLive(nats: NatsConnection, name: string): Promise<boolean> {
  const info = await (await checkpointStore(nats)).info(name);
  return info !== null && !info.deleted;
}

/** The name of the run's newest latest-epoch copy, if it has one. */
export async function latestCheckpointName(nats: NatsConnection, runId: string): Promise<string | undefined> {
  const latest = (await runObjectNames(nats, runId))
    .map((name) => ({ name, epoch: Number(latestPattern.exec(name)?.[1] ?? -1) }))
    .filter(({ epoch }) => epoch >= 0)
    .sort((a, b) => b.epoch - a.epoch);
  for (const { name } of latest) if (await isLive(nats, name)) return name;
  return undefined;
}

/** The run's newest checkpoint (its newest latest-epoch copy), with its object name. */
export async function readLatestCheckpoint(nats: NatsConnection, runId: string): Promise<{ name: string; checkpoint: RunCheckpoint } | undefined> {
  const name = await latestCheckpointName(nats, runId);
  const checkpoint = name === undefined ? undefined : await readCheckpoint(nats, name);
  return name !== undefined && checkpoint ? { name, checkpoint } : undefined;
}

/**
 * Removes the object, its metadata included: ObjectStore.delete leaves a "deleted" record under the
 * name for good, and a pruned epoch's would stay one more subject in the index for every epoch ever
 * trained. Whether there was a live object to remove.
 */
export async function deleteCheckpoint(nats: NatsConnection, objectName: string): Promise<boolean> {
  const store = await checkpointStore(nats);
  const info = await store.info(objectName);
  if (info === null) return false;
  if (!info.deleted) await store.delete(objectName);
  await (await objectManager(nats)).streams.purge(objectStream, { filter: metaSubject(objectName) });
  return !info.deleted;
}

/** Removes every checkpoint object of the run (its epochs' and its latest copies); how many there were. */
export async function deleteRunCheckpoints(nats: NatsConnection, runId: string): Promise<number> {
  let deleted = 0;
  for (const name of await runObjectNames(nats, runId)) if (await deleteCheckpoint(nats, name)) deleted++;
  return deleted;
}

/**
 * Why an announcement cannot be one a trainer sent (undefined when it can): trainers announce an
 * epoch's checkpoint under its own object name, or a failure with an error and no object.
 */
export function announcementFault(announcement: CheckpointAnnouncement): string | undefined {
  const { runId, epoch, objectName, error } = announcement;
  if (!RUN_ID_PATTERN.test(runId)) return `runId ${JSON.stringify(runId.slice(0, 140))} is not a run id`;
  if (error === "" && objectName !== checkpointObjectName(runId, epoch)) {
    return `objectName ${JSON.stringify(objectName.slice(0, 300))} is not epoch ${epoch}'s object ${JSON.stringify(checkpointObjectName(runId, epoch))}`;
  }
  if (error !== "" && objectName !== "") return "a failure announcement names no checkpoint object";
  for (const field of ["eta", "trainSeconds", "imagesPerSecond"] as const) {
    const value = announcement[field];
    if (!Number.isFinite(value) || value < 0) return `${field} ${value} is not a finite number ≥ 0`;
  }
  return undefined;
}

/**
 * How long an announcement that was not acknowledged waits before it is delivered again: the
 * consumer's ack wait (a handler still running, an evaluator gone) and the delay after a handler threw.
 */
export const defaultRedeliverMs = 30_000;

export interface ConsumeOptions {
  signal: AbortSignal;
  /** Default defaultRedeliverMs. */
  redeliverMs?: number;
  /** A handler that threw: the announcement is redelivered after `redeliverMs`. */
  onError?: (error: unknown) => void;
  /** An announcement no trainer could have sent (undecodable, inconsistent): dropped for good. */
  onRejected?: (reason: "undecodable" | "invalid", detail: string, bytes: number) => void;
  /** Announcements handled at once, each run's one after another in stream order. Default 8. */
  concurrency?: number;
}

/**
 * Consumes announcements with a durable consumer: a restarted evaluator continues with the
 * first announcement it had not acknowledged. `handle` returning normally acknowledges; a
 * throw leaves the message to be redelivered after `redeliverMs`. Messages that are not valid
 * announcements are terminated (never redelivered) and reported to `onRejected`. Different
 * runs' announcements are handled at once (up to `concurrency`): one run's epoch boundary (a
 * checkpoint read, a score, a record written, a trainer told) never waits for another's.
 */
export async function consumeCheckpoints(
  nats: NatsConnection,
  durable: string,
  handle: (announcement: CheckpointAnnouncement) => Promise<void>,
  options: ConsumeOptions,
): Promise<void> {
  await ensureStream(nats);
  const manager = await nats.jetstreamManager();
  const redeliverMs = options.redeliverMs ?? defaultRedeliverMs;
  const ackWaitNs = redeliverMs * 1_000_000;
  const existing = await manager.consumers.info(checkpointStream, durable).catch(() => undefined);
  if (existing) await manager.consumers.update(checkpointStream, durable, { ack_wait: ackWaitNs });
  else await manager.consumers.add(checkpointStream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: ackWaitNs });
  const consumer = await nats.jetstream().consumers.get(checkpointStream, durable);
  const concurrency = options.concurrency ?? 8;
  const messages = await consumer.consume({ max_messages: concurrency });
  // Each run's announcements in order: a chain per run; at most `concurrency` handled at once.
  const chains = new Map<string, Promise<void>>();
  const running = new Set<Promise<void>>();
  const handleInTurn = (announcement: CheckpointAnnouncement, message: JsMsg) => {
    const done = (chains.get(announcement.runId) ?? Promise.resolve()).then(async () => {
      try {
        await handle(announcement);
        message.ack();
      } catch (error) {
        // A handler that threw, or an acknowledgement that could not be sent (the connection
        // closing): the server delivers the announcement again either way. Nothing escapes the chain.
        options.onError?.(error);
        try {
          message.nak(redeliverMs);
        } catch (nakError) {
          options.onError?.(nakError);
        }
      }
    });
    chains.set(announcement.runId, done);
    running.add(done);
    void done.then(() => {
      running.delete(done);
      if (chains.get(announcement.runId) === done) chains.delete(announcement.runId);
    });
  };
  const close = () => void messages.close();
  if (options.signal.aborted) close();
  options.signal.addEventListener("abort", close, { once: true });
  for await (const message of messages) {
    let announcement: CheckpointAnnouncement;
    try {
      announcement = fromBinary(CheckpointAnnouncementSchema, message.data);
    } catch (error) {
      message.term();
      options.onRejected?.("undecodable", error instanceof Error ? error.message : String(error), message.data.length);
      continue;
    }
    const fault = announcementFault(announcement);
    if (fault) {
      message.term();
      options.onRejected?.("invalid", fault, message.data.length);
      continue;
    }
    handleInTurn(announcement, message);
    while (running.size >= concurrency) await Promise.race(running);
  }
  await Promise.all(running);
}
