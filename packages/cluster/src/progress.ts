import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { EpochProgressSchema, type EpochProgress } from "@mnist/protocol";
import type { NatsConnection, Subscription } from "nats";

// Core NATS, not JetStream: progress is only worth having while it is fresh.
const progressSubjectPrefix = "mnist.progress";
export const progressSubject = (runId: string) => `${progressSubjectPrefix}.${runId}`;

/** How often a trainer reports an epoch's progress: enough for a smooth bar, negligible traffic. */
export const progressIntervalMs = 250;

export function publishProgress(nats: NatsConnection, progress: MessageInitShape<typeof EpochProgressSchema>): void {
  const message = create(EpochProgressSchema, progress);
  nats.publish(progressSubject(message.runId), toBinary(EpochProgressSchema, message));
}

/** Why a message on a run's progress subject is no report of that run's trainer (undefined when it can be). */
export function progressFault(runId: string, progress: EpochProgress): string | undefined {
  if (progress.runId !== runId) return `runId ${JSON.stringify(progress.runId.slice(0, 140))} on run ${runId}'s subject`;
  if (progress.total === 0 || progress.examples > progress.total) return `examples ${progress.examples} of total ${progress.total}`;
  if (!Number.isFinite(progress.imagesPerSecond) || progress.imagesPerSecond < 0) return `imagesPerSecond ${progress.imagesPerSecond} is not a finite number ≥ 0`;
  return undefined;
}

/**
 * A run's progress reports until `signal` aborts. A message that does not decode, or is no report
 * of this run (see progressFault), goes to `onInvalid` and is skipped.
 */
export async function* watchProgress(
  nats: NatsConnection,
  runId: string,
  signal: AbortSignal,
  onInvalid: (reason: "undecodable" | "invalid", detail: string) => void,
): AsyncGenerator<EpochProgress> {
  const subscription = nats.subscribe(progressSubject(runId));
  const stop = () => subscription.unsubscribe();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const message of subscription) {
      const progress = decodeProgress(runId, message.data, onInvalid);
      if (progress) yield progress;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    subscription.unsubscribe();
  }
}

/** Every run's progress reports, each to `onProgress`, until the subscription is unsubscribed; junk goes to `onInvalid`. */
export function followProgress(
  nats: NatsConnection,
  onProgress: (progress: EpochProgress) => void,
  onInvalid: (reason: "undecodable" | "invalid", detail: string) => void,
): Subscription {
  return nats.subscribe(`${progressSubjectPrefix}.*`, {
    callback: (error, message) => {
      if (error) return;
      const progress = decodeProgress(message.subject.slice(progressSubjectPrefix.length + 1), message.data, onInvalid);
      if (progress) onProgress(progress);
    },
  });
}

/** The report in a message on run `runId`'s subject, or undefined (and a word to `onInvalid`) when it is none. */
function decodeProgress(runId: string, data: Uint8Array, onInvalid: (reason: "undecodable" | "invalid", detail: string) => void): EpochProgress | undefined {
  let progress: EpochProgress;
  try {
    progress = fromBinary(EpochProgressSchema, data);
  } catch (error) {
    onInvalid("undecodable", error instanceof Error ? error.message : String(error));
    return undefined;
  }
  const fault = progressFault(runId, progress);
  if (fault) onInvalid("invalid", fault);
  return fault ? undefined : progress;
}

/** Calls `report` at most every `intervalMs`, plus always for the last example of an epoch. */
export function throttled(intervalMs: number, report: (examples: number, total: number, seconds: number) => void) {
  let last = -Infinity;
  return (examples: number, total: number, seconds: number) => {
    const now = performance.now();
    if (examples < total && now - last < intervalMs) return;
    last = now;
    report(examples, total, seconds);
  };
}
