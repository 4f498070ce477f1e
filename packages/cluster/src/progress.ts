import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { EpochProgressSchema, type EpochProgress } from "@mnist/protocol";
import type { NatsConnection } from "nats";

// Core NATS, not JetStream: progress is only worth having while it is fresh.
export const progressSubject = (runId: string) => `mnist.progress.${runId}`;

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
      let progress: EpochProgress;
      try {
        progress = fromBinary(EpochProgressSchema, message.data);
      } catch (error) {
        onInvalid("undecodable", error instanceof Error ? error.message : String(error));
        continue;
      }
      const fault = progressFault(runId, progress);
      if (fault) onInvalid("invalid", fault);
      else yield progress;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    subscription.unsubscribe();
  }
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
