import { fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { CheckpointAnnouncementSchema, type CheckpointAnnouncement } from "@mnist/protocol";
import { AckPolicy, DeliverPolicy, type JetStreamClient, type NatsConnection, type ObjectStore } from "nats";

export const checkpointsBucket = "checkpoints";
export const checkpointStream = "CHECKPOINTS";
export const checkpointSubject = (runId: string) => `mnist.checkpoints.${runId}`;

export function checkpointObjectName(runId: string, epoch: number): string {
  return `${runId}/epoch-${String(epoch).padStart(5, "0")}`;
}

/** Latest-checkpoint pointer a resuming trainer reads first. */
export function latestObjectName(runId: string): string {
  return `${runId}/latest`;
}

async function checkpointStore(nats: NatsConnection): Promise<ObjectStore> {
  return nats.jetstream().views.os(checkpointsBucket);
}

async function ensureStream(nats: NatsConnection): Promise<JetStreamClient> {
  const manager = await nats.jetstreamManager();
  try {
    await manager.streams.info(checkpointStream);
  } catch {
    await manager.streams.add({ name: checkpointStream, subjects: ["mnist.checkpoints.>"] });
  }
  return nats.jetstream();
}

/** Stores an epoch's checkpoint bytes, then announces it on the run's subject (at least once, in order). */
export async function publishCheckpoint(
  nats: NatsConnection,
  bytes: Uint8Array,
  announcement: MessageInitShape<typeof CheckpointAnnouncementSchema> & { runId: string; epoch: number },
): Promise<void> {
  const store = await checkpointStore(nats);
  const objectName = checkpointObjectName(announcement.runId, announcement.epoch);
  await store.putBlob({ name: objectName }, bytes);
  await store.putBlob({ name: latestObjectName(announcement.runId) }, bytes);
  const js = await ensureStream(nats);
  const message = create(CheckpointAnnouncementSchema, { ...announcement, objectName });
  await js.publish(checkpointSubject(announcement.runId), toBinary(CheckpointAnnouncementSchema, message), {
    msgID: `${announcement.runId}/${announcement.epoch}`,
  });
}

export async function readCheckpoint(nats: NatsConnection, objectName: string): Promise<Uint8Array | undefined> {
  return (await (await checkpointStore(nats)).getBlob(objectName)) ?? undefined;
}

/**
 * Consumes announcements with a durable consumer: a restarted evaluator continues with the
 * first announcement it had not acknowledged. `handle` returning normally acknowledges.
 */
export async function consumeCheckpoints(
  nats: NatsConnection,
  durable: string,
  handle: (announcement: CheckpointAnnouncement) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  await ensureStream(nats);
  const manager = await nats.jetstreamManager();
  await manager.consumers.add(checkpointStream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: 120_000_000_000 });
  const consumer = await nats.jetstream().consumers.get(checkpointStream, durable);
  const messages = await consumer.consume({ max_messages: 1 });
  signal.addEventListener("abort", () => void messages.close(), { once: true });
  for await (const message of messages) {
    await handle(fromBinary(CheckpointAnnouncementSchema, message.data));
    message.ack();
  }
}
