import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { CheckpointAnnouncementSchema, RUN_ID_PATTERN, RunCheckpointSchema, type CheckpointAnnouncement, type RunCheckpoint } from "@mnist/protocol";
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JsMsg, type NatsConnection, type ObjectStore } from "nats";
import { perConnection } from "./per-connection.js";

export const checkpointsBucket = "checkpoints";
export const checkpointStream = "CHECKPOINTS";
export const checkpointSubject = (runId: string) => `mnist.checkpoints.${runId}`;

/**
 * Checkpoint objects are named by the placement generation that wrote them (generation 0: the
 * names stores kept before generations), so a trainer that lost the run and writes late, however
 * late, writes beside the current holder's checkpoints and never over them.
 */
const generationSuffix = (generation: number) => (generation > 0 ? `.g${generation}` : "");

/** The epoch's checkpoint as scored by the evaluator (which keeps only the best epoch's). */
export function checkpointObjectName(runId: string, epoch: number, generation: number): string {
  return `${runId}/epoch-${String(epoch).padStart(5, "0")}${generationSuffix(generation)}`;
}

/**
 * The copy of an epoch's checkpoint a resuming trainer reads: the trainer keeps the copy of the
 * last epoch the evaluator decided on and removes the one before it once that decision arrives.
 */
export function latestObjectName(runId: string, epoch: number, generation: number): string {
  return `${runId}/latest-${String(epoch).padStart(5, "0")}${generationSuffix(generation)}`;
}

const latestPattern = /\/latest-(\d{5})(?:\.g(\d+))?$/;

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

/** The stream's message id for an announcement: the same announcement again is a no-op, another generation's is not. */
const announcementId = ({ runId, epoch, generation }: { runId: string; epoch: number; generation: number }) => `${runId}/${epoch}/g${generation}`;

async function announce(nats: NatsConnection, announcement: CheckpointAnnouncement, messageId: string): Promise<void> {
  const js = await ensureStream(nats);
  await js.publish(checkpointSubject(announcement.runId), toBinary(CheckpointAnnouncementSchema, announcement), { msgID: messageId });
}

/** Points on a checkpoint's way to the evaluator, where a test can hold the process still (a GC pause, a frozen VM). */
export type CheckpointStep = "write" | "announce";

/** The writer no longer holds the run (its lease lapsed, or it was stopped) while it stored a checkpoint: it must stop writing for the run. */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  readonly code = "LEASE_LOST";
  constructor(
    message: string,
    /** The step not taken: at "announce", the checkpoint's objects were stored and no one was told of them. */
    readonly step: CheckpointStep,
  ) {
    super(message);
  }
}

export interface PublishOptions {
  /**
   * Asked before every write: false when the writer knows it no longer holds the run (a lapsed
   * heartbeat). An optimisation only: a late write is fenced by its generation, whatever this says.
   */
  holding?: () => boolean;
  /** Called just before each step, once its checks have passed. */
  before?: (step: CheckpointStep) => void;
}

/**
 * Stores an epoch's checkpoint (as its epoch object and as the run's latest, both named by the
 * checkpoint's generation), then announces it. Announcing again after a crash is safe: the
 * stream drops the duplicate.
 */
export async function publishCheckpoint(nats: NatsConnection, checkpoint: RunCheckpoint, trainerId: string, options: PublishOptions = {}): Promise<CheckpointAnnouncement> {
  const { holding = () => true, before = () => undefined } = options;
  const store = await checkpointStore(nats);
  const bytes = toBinary(RunCheckpointSchema, checkpoint);
  const { runId, epoch, generation } = checkpoint;
  const step = async (name: CheckpointStep, write: () => Promise<unknown>) => {
    if (!holding()) throw new LeaseLostError(`run ${runId} no longer held while storing epoch ${epoch}'s checkpoint`, name);
    before(name);
    await write();
  };
  // Both copies at once: each put is a chain of round trips to the server.
  await step("write", () => Promise.all([store.putBlob({ name: checkpointObjectName(runId, epoch, generation) }, bytes), store.putBlob({ name: latestObjectName(runId, epoch, generation) }, bytes)]));
  const announcement = announcementOf(checkpoint, trainerId);
  await step("announce", () => announce(nats, announcement, announcementId(announcement)));
  return announcement;
}

function announcementOf(checkpoint: RunCheckpoint, trainerId: string): CheckpointAnnouncement {
  return create(CheckpointAnnouncementSchema, {
    runId: checkpoint.runId,
    epoch: checkpoint.epoch,
    eta: checkpoint.eta,
    trainSeconds: checkpoint.trainSeconds,
    imagesPerSecond: checkpoint.imagesPerSecond,
    objectName: checkpointObjectName(checkpoint.runId, checkpoint.epoch, checkpoint.generation),
    trainerId,
    blasThreads: checkpoint.blasThreads,
    generation: checkpoint.generation,
  });
}

/** Tells the evaluator that training an epoch failed and the run cannot go on. */
export async function announceFailure(nats: NatsConnection, failure: MessageInitShape<typeof CheckpointAnnouncementSchema> & { runId: string; epoch: number; generation: number; error: string }): Promise<void> {
  await announce(nats, create(CheckpointAnnouncementSchema, failure), `${announcementId(failure)}/failed`);
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
export async function runObjectNames(nats: NatsConnection, runId: string): Promise<string[]> {
  return (await checkpointObjectNames(nats)).filter((name) => name.startsWith(`${runId}/`));
}

/** The names of every object in the checkpoints bucket, from the stream's subject index (see runObjectNames). */
export async function checkpointObjectNames(nats: NatsConnection): Promise<string[]> {
  const subjects = (await (await objectManager(nats)).streams.info(objectStream, { subjects_filter: `${metaPrefix}>` })).state.subjects ?? {};
  return Object.keys(subjects).map((subject) => Buffer.from(subject.slice(metaPrefix.length), "base64url").toString("utf8"));
}

async function isLive(nats: NatsConnection, name: string): Promise<boolean> {
  const info = await (await checkpointStore(nats)).info(name);
  return info !== null && !info.deleted;
}

/** The name of the run's newest latest-epoch copy (the latest epoch, of that the latest generation), if it has one. */
export async function latestCheckpointName(nats: NatsConnection, runId: string): Promise<string | undefined> {
  const latest = (await runObjectNames(nats, runId))
    .map((name) => {
      const match = latestPattern.exec(name);
      return { name, epoch: Number(match?.[1] ?? -1), generation: Number(match?.[2] ?? 0) };
    })
    .filter(({ epoch }) => epoch >= 0)
    .sort((a, b) => b.epoch - a.epoch || b.generation - a.generation);
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
  const { runId, epoch, generation, objectName, error } = announcement;
  if (!RUN_ID_PATTERN.test(runId)) return `runId ${JSON.stringify(runId.slice(0, 140))} is not a run id`;
  if (error === "" && objectName !== checkpointObjectName(runId, epoch, generation)) {
    return `objectName ${JSON.stringify(objectName.slice(0, 300))} is not epoch ${epoch}'s object of generation ${generation} ${JSON.stringify(checkpointObjectName(runId, epoch, generation))}`;
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
