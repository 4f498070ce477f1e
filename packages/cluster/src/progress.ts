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

/** A run's progress reports until `signal` aborts; an undecodable message goes to `onInvalid` and is skipped. */
export async function* watchProgress(nats: NatsConnection, runId: string, signal: AbortSignal, onInvalid: (error: unknown) => void): AsyncGenerator<EpochProgress> {
  const subscription = nats.subscribe(progressSubject(runId));
  const stop = () => subscription.unsubscribe();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const message of subscription) {
      try {
        yield fromBinary(EpochProgressSchema, message.data);
      } catch (error) {
        onInvalid(error);
      }
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
