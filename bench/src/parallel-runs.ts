import { createClient } from "@mnist/grpc";
import { RunService, RunState, type RunRecord } from "@mnist/protocol";
import { loadMnist } from "@mnist/core";
import { runSpec } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { LocalCluster } from "mnistctl/launcher";
import { markdownTable, fixed } from "./report.js";

/**
 * A trainer that uses its cores: the same sweep of runs on one trainer holding one run at a time
 * (TRAINER_MAX_RUNS=1) and two (=2), each run checked against its in-process twin.
 */

export interface ParallelRunsOptions {
  runs: number;
  epochs: number;
  hidden: number;
  augmentReplicas: number;
  log: (line: string) => void;
}

export interface ParallelRunsReport {
  options: Omit<ParallelRunsOptions, "log">;
  /** Wall seconds of the whole sweep, launch to last run finished, by TRAINER_MAX_RUNS. */
  wallSeconds: Record<string, number>;
  speedup: number;
  /** Each run's epochs' validation accuracies equal its in-process twin's, for both settings. */
  identical: boolean;
}

const sweepSpec = (seed: number, options: ParallelRunsOptions) => ({ sizes: [784, options.hidden, 10], epochs: options.epochs, seed: BigInt(seed), eta: 0.5 });

async function sweepOn(maxRuns: number, options: ParallelRunsOptions): Promise<{ seconds: number; runs: RunRecord[] }> {
  const cluster = new LocalCluster({
    augmentReplicas: options.augmentReplicas,
    trainers: 1,
    startTimeoutMs: 60_000,
    graceMs: 5_000,
    env: { TRAINER_MAX_RUNS: String(maxRuns), TRAINER_BLAS_THREADS: "1" },
  });
  await cluster.start();
  const client = createClient(RunService, cluster.evaluator);
  try {
    const started = performance.now();
    const ids: string[] = [];
    for (let seed = 1; seed <= options.runs; seed++) ids.push((await client.launchRun({ spec: sweepSpec(seed, options) })).runId);
    for (;;) {
      const runs = await Promise.all(ids.map(async (runId) => (await client.getRun({ runId })).run!));
      if (runs.every((run) => run.state === RunState.FINISHED)) return { seconds: (performance.now() - started) / 1000, runs };
      const failed = runs.find((run) => run.state === RunState.FAILED || run.state === RunState.STOPPED);
      if (failed) throw new Error(`run ${failed.runId} ended ${failed.state}: ${failed.stopReason}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.close();
    await cluster.stop();
  }
}

export async function runParallelRuns(options: ParallelRunsOptions): Promise<ParallelRunsReport> {
  const mnist = loadMnist();
  const twins: Awaited<ReturnType<typeof trainLocally>>[] = [];
  for (let seed = 1; seed <= options.runs; seed++) twins.push(await trainLocally(runSpec(sweepSpec(seed, options)), { mnist }));
  const wallSeconds: Record<string, number> = {};
  let identical = true;
  for (const maxRuns of [1, 2]) {
    options.log(`${options.runs} runs on one trainer, TRAINER_MAX_RUNS=${maxRuns}`);
    const { seconds, runs } = await sweepOn(maxRuns, options);
    wallSeconds[String(maxRuns)] = seconds;
    runs.forEach((run, i) => {
      const same = run.epochs.map((epoch) => epoch.valAccuracy).join() === twins[i]!.epochs.map((epoch) => epoch.evalAccuracy).join();
      if (!same) options.log(`run ${i + 1} (TRAINER_MAX_RUNS=${maxRuns}) differs from its in-process twin`);
      identical &&= same;
    });
    options.log(`  ${fixed(seconds, 1)} s`);
  }
  const { log: _log, ...rest } = options;
  return { options: rest, wallSeconds, speedup: wallSeconds["1"]! / wallSeconds["2"]!, identical };
}

export function renderParallelReport(report: ParallelRunsReport, header: string): string {
  const { runs, epochs, hidden } = report.options;
  return [
    header,
    "",
    markdownTable(
      ["TRAINER_MAX_RUNS", `sweep of ${runs} runs [784,${hidden},10], ${epochs} epochs, plain data: wall seconds`, "speed-up"],
      [
        ["1", fixed(report.wallSeconds["1"]!, 1), "1.00"],
        ["2", fixed(report.wallSeconds["2"]!, 1), fixed(report.speedup, 2)],
      ],
    ),
    "",
    `Every run's validation accuracy, epoch by epoch, equals its in-process twin's: ${report.identical ? "yes" : "**no**"}.`,
  ].join("\n");
}
