import { create } from "@bufbuild/protobuf";
import { RunProgressSchema, RunState, type EpochProgress, type RunProgress, type RunRecord } from "@mnist/protocol";

/** A report older than this is no longer the run's state (its trainer went away mid-epoch). */
const staleMs = 10_000;

/** The latest progress report of each run in training, from the trainers' progress subject. */
export class LiveProgress {
  private readonly latest = new Map<string, { report: EpochProgress; at: number }>();

  report(report: EpochProgress): void {
    this.latest.set(report.runId, { report, at: Date.now() });
  }

  /** The run's progress as an answer carries it, when it is running and its trainer reported lately on the epoch it is at. */
  of(run: RunRecord, maxEpochs: number, now = Date.now()): RunProgress | undefined {
    const seen = this.latest.get(run.runId);
    if (!seen) return undefined;
    if (run.state !== RunState.RUNNING || now - seen.at > staleMs) {
      this.latest.delete(run.runId);
      return undefined;
    }
    if (seen.report.epoch !== run.epochs.length) return undefined;
    return estimate(seen.report, run.epochs.map((epoch) => epoch.trainSeconds), maxEpochs);
  }
}

/**
 * How far the epoch in training has come and how long it and the run's epoch cap will take: the
 * epoch at its own pace so far, each later epoch as long as the run's epochs took to train on average
 * (`trainSeconds`, one per finished epoch).
 */
export function estimate(report: EpochProgress, trainSeconds: readonly number[], maxEpochs: number): RunProgress {
  const share = report.total === 0 ? 0 : report.examples / report.total;
  const epochSecondsLeft = report.imagesPerSecond > 0 ? (report.total - report.examples) / report.imagesPerSecond : 0;
  const perEpoch = trainSeconds.length > 0 ? trainSeconds.reduce((sum, seconds) => sum + seconds, 0) / trainSeconds.length : report.imagesPerSecond > 0 ? report.total / report.imagesPerSecond : 0;
  const later = Math.max(0, maxEpochs - report.epoch - 1);
  return create(RunProgressSchema, { epoch: report.epoch, epochShare: share, imagesPerSecond: report.imagesPerSecond, epochSecondsLeft, capSecondsLeft: epochSecondsLeft + later * perEpoch });
}
