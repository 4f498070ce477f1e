import { Decision } from "@mnist/protocol";

export interface EpochVerdict {
  decision: Decision;
  eta: number;
  reason: string;
  /** Train on from this epoch's checkpoint, written under this generation (restoreBestOnDecay). */
  restore?: { epoch: number; generation: number };
}

/**
 * Hands the evaluator's decision for an epoch to the run loop waiting for it. A decision may
 * arrive before the loop asks (the evaluator is quick), so both sides meet here by epoch.
 */
export class DecisionMailbox {
  private readonly arrived = new Map<number, EpochVerdict>();
  private readonly waiting = new Map<number, (verdict: EpochVerdict) => void>();
  /** Decisions for epochs before this one were taken already: repeats are dropped. */
  private nextEpoch = 0;

  deliver(epoch: number, verdict: EpochVerdict): void {
    if (epoch < this.nextEpoch) return;
    const waiter = this.waiting.get(epoch);
    if (waiter) {
      this.waiting.delete(epoch);
      waiter(verdict);
    } else {
      this.arrived.set(epoch, verdict);
    }
  }

  /** Resolves with the decision for `epoch`, or rejects when the signal aborts. */
  wait(epoch: number, signal: AbortSignal): Promise<EpochVerdict> {
    this.nextEpoch = Math.max(this.nextEpoch, epoch);
    for (const early of this.arrived.keys()) if (early < epoch) this.arrived.delete(early);
    const ready = this.arrived.get(epoch);
    if (ready) {
      this.arrived.delete(epoch);
      this.nextEpoch = epoch + 1;
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.delete(epoch);
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.set(epoch, (verdict) => {
        signal.removeEventListener("abort", onAbort);
        this.nextEpoch = epoch + 1;
        resolve(verdict);
      });
    });
  }
}
