import { createClient } from "@mnist/grpc";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { RunService, Scheduler, type RunRecord, type RunSpecSchema } from "@mnist/protocol";
import { isTerminal, splitmix64, type SchedulerName } from "@mnist/spec";
import { LocalCluster } from "mnistctl/launcher";
import { fixed, markdownTable } from "./report.js";

/**
 * A random search with and without a trial scheduler: the same trials (η, λ and the hidden size
 * drawn from one seed) on a local cluster with two trainers, each arm from a fresh cluster.
 */

export interface SweepBenchOptions {
  trials: number;
  epochs: number;
  trainLimit: number;
  trainers: number;
  gracePeriod: number;
  reductionFactor: number;
  seed: bigint;
  log: (line: string) => void;
}

export interface Trial {
  eta: number;
  lambda: number;
  hidden: number;
}

export interface ArmResult {
  scheduler: SchedulerName;
  wallSeconds: number;
  trainerEpochs: number;
  stoppedByScheduler: number;
  /** Index into the trials of the best one by validation accuracy, its accuracy and its best epoch's test accuracy. */
  best: { trial: number; valAccuracy: number; testAccuracy: number | undefined };
  /** Each trial's epochs trained and best validation accuracy, in trial order. */
  perTrial: { epochs: number; valAccuracy: number; stopReason: string }[];
}

export interface SweepBenchReport {
  options: Omit<SweepBenchOptions, "log" | "seed"> & { seed: string };
  trials: Trial[];
  arms: ArmResult[];
}

const hiddenSizes = [10, 30, 100];

/** The search space: η log-uniform in [0.01, 10], λ log-uniform in [0.01, 10] (for 10,000 images), hidden from 10, 30, 100. */
export function drawTrials(count: number, seed: bigint): Trial[] {
  const next = splitmix64(seed);
  const logUniform = (low: number, high: number) => Number(Math.exp(Math.log(low) + next() * (Math.log(high) - Math.log(low))).toPrecision(3));
  return Array.from({ length: count }, () => ({ eta: logUniform(0.01, 10), lambda: logUniform(0.01, 10), hidden: hiddenSizes[Math.floor(next() * hiddenSizes.length)]! }));
}

const kinds: Record<SchedulerName, Scheduler> = { none: Scheduler.NONE, asha: Scheduler.ASHA, median: Scheduler.MEDIAN };

async function arm(scheduler: SchedulerName, trials: Trial[], options: SweepBenchOptions): Promise<ArmResult> {
  const cluster = new LocalCluster({ dashboardPort: 0, augmentReplicas: 1, trainers: options.trainers, startTimeoutMs: 60_000, graceMs: 5_000, env: { TRAINER_BLAS_THREADS: "1" } });
  await cluster.start();
  const client = createClient(RunService, cluster.evaluator);
  try {
    const specs: MessageInitShape<typeof RunSpecSchema>[] = trials.map((trial, index) => ({
      name: `trial-${index}`,
      sizes: [784, trial.hidden, 10],
      eta: trial.eta,
      lambda: trial.lambda,
      epochs: options.epochs,
      trainLimit: options.trainLimit,
      seed: 1n,
    }));
    const started = performance.now();
    const { sweepId, runIds } = await client.launchSweep({
      name: `bench-${scheduler}`,
      specs,
      scheduler: { kind: kinds[scheduler], gracePeriod: options.gracePeriod, reductionFactor: options.reductionFactor },
    });
    let runs: RunRecord[] = [];
    for (;;) {
      runs = (await client.getSweep({ sweepId })).runs;
      if (runs.length === runIds.length && runs.every((run) => isTerminal(run.state))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const { sweep } = await client.getSweep({ sweepId });
    const ordered = runIds.map((runId) => runs.find((run) => run.runId === runId)!);
    const bestIndex = ordered.reduce((best, run, index) => (run.bestValAccuracy > ordered[best]!.bestValAccuracy ? index : best), 0);
    const perTrial = ordered.map((run) => ({ epochs: run.epochs.length, valAccuracy: run.bestValAccuracy, stopReason: run.stopReason }));
    return {
      scheduler,
      wallSeconds,
      trainerEpochs: perTrial.reduce((sum, trial) => sum + trial.epochs, 0),
      stoppedByScheduler: Object.keys(sweep?.stops ?? {}).length,
      best: { trial: bestIndex, valAccuracy: ordered[bestIndex]!.bestValAccuracy, testAccuracy: ordered[bestIndex]!.testAccuracy },
      perTrial,
    };
  } finally {
    client.close();
    await cluster.stop();
  }
}

export async function runSweepBench(options: SweepBenchOptions): Promise<SweepBenchReport> {
  const trials = drawTrials(options.trials, options.seed);
  const arms: ArmResult[] = [];
  for (const scheduler of ["none", "asha"] as const) {
    options.log(`${options.trials} trials, scheduler ${scheduler}`);
    const result = await arm(scheduler, trials, options);
    options.log(`  ${fixed(result.wallSeconds, 1)} s, ${result.trainerEpochs} trainer-epochs, best trial ${result.best.trial}`);
    arms.push(result);
  }
  const { log: _log, seed, ...rest } = options;
  return { options: { ...rest, seed: String(seed) }, trials, arms };
}

const percent = (fraction: number | undefined) => (fraction === undefined ? "–" : `${(fraction * 100).toFixed(2)} %`);

export function renderSweepReport(report: SweepBenchReport, header: string): string {
  const [none, asha] = report.arms as [ArmResult, ArmResult];
  const describe = (index: number) => {
    const trial = report.trials[index]!;
    return `#${index} (η ${trial.eta}, λ ${trial.lambda}, [784,${trial.hidden},10])`;
  };
  const sameBest = none.best.trial === asha.best.trial;
  const rank = (arm: ArmResult, index: number) => 1 + arm.perTrial.filter((trial) => trial.valAccuracy > arm.perTrial[index]!.valAccuracy).length;
  return [
    header,
    "",
    markdownTable(
      ["scheduler", "trainer-epochs", "wall seconds", "trials stopped by the scheduler", "best trial", "its best validation accuracy", "its test accuracy"],
      report.arms.map((arm) => [arm.scheduler, String(arm.trainerEpochs), fixed(arm.wallSeconds, 1), String(arm.stoppedByScheduler), describe(arm.best.trial), percent(arm.best.valAccuracy), percent(arm.best.testAccuracy)]),
    ),
    "",
    `ASHA against no scheduler, same trials: **${fixed(none.trainerEpochs / asha.trainerEpochs, 2)}× fewer trainer-epochs**, **${fixed(none.wallSeconds / asha.wallSeconds, 2)}× less wall time**; ` +
      (sameBest
        ? "the best trial found is the same one."
        : `the best trial differs: ASHA's ${describe(asha.best.trial)} reached ${percent(asha.best.valAccuracy)} (rank ${rank(none, asha.best.trial)} of ${report.trials.length} when every trial runs to its end), against ${percent(none.best.valAccuracy)} for ${describe(none.best.trial)}, which ASHA stopped after ${asha.perTrial[none.best.trial]!.epochs} epochs.`),
    "",
    "## Every trial",
    "",
    markdownTable(
      ["trial", "η", "λ", "hidden", "epochs (none)", "best val (none)", "epochs (ASHA)", "best val (ASHA)", "ASHA's reason"],
      report.trials.map((trial, index) => [
        String(index),
        String(trial.eta),
        String(trial.lambda),
        String(trial.hidden),
        String(none.perTrial[index]!.epochs),
        percent(none.perTrial[index]!.valAccuracy),
        String(asha.perTrial[index]!.epochs),
        percent(asha.perTrial[index]!.valAccuracy),
        asha.perTrial[index]!.stopReason.startsWith("ASHA") ? asha.perTrial[index]!.stopReason.replace(/^ASHA: /, "") : "",
      ]),
    ),
  ].join("\n");
}
