import { createClient } from "@mnist/grpc";
import { RunService, RunState, type RunRecord } from "@mnist/protocol";
import { loadMnist } from "@mnist/core";
import { runSpec } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { LocalCluster } from "mnistctl/launcher";
import { kindOf, procStat } from "./pipeline.js";
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
  /** CPU seconds (user + system) of each process kind over the sweep, by TRAINER_MAX_RUNS. */
  cpuSeconds: Record<string, Record<string, number>>;
  speedup: number;
  /** Each run's epochs' validation accuracies equal its in-process twin's, for both settings. */
  identical: boolean;
}

const sweepSpec = (seed: number, options: ParallelRunsOptions) => ({ sizes: [784, options.hidden, 10], epochs: options.epochs, seed: BigInt(seed), eta: 0.5 });

async function sweepOn(maxRuns: number, options: ParallelRunsOptions): Promise<{ seconds: number; cpu: Record<string, number>; runs: RunRecord[] }> {
  const pids = new Map<string, number>();
  const cluster = new LocalCluster({
    dashboardPort: 0,
    onStarted: (name, started) => pids.set(name, started.pid),
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
    const before = new Map([...pids].map(([name, pid]) => [name, procStat(pid).cpu]));
    const ids: string[] = [];
    for (let seed = 1; seed <= options.runs; seed++) ids.push((await client.launchRun({ spec: sweepSpec(seed, options) })).runId);
    for (;;) {
      const runs = await Promise.all(ids.map(async (runId) => (await client.getRun({ runId })).run!));
      if (runs.every((run) => run.state === RunState.FINISHED)) {
        const seconds = (performance.now() - started) / 1000;
        const cpu: Record<string, number> = {};
        for (const [name, pid] of pids) cpu[kindOf(name)] = (cpu[kindOf(name)] ?? 0) + procStat(pid).cpu - before.get(name)!;
        return { seconds, cpu, runs };
      }
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
  const cpuSeconds: Record<string, Record<string, number>> = {};
  let identical = true;
  for (const maxRuns of [1, 2]) {
    options.log(`${options.runs} runs on one trainer, TRAINER_MAX_RUNS=${maxRuns}`);
    const { seconds, cpu, runs } = await sweepOn(maxRuns, options);
    wallSeconds[String(maxRuns)] = seconds;
    cpuSeconds[String(maxRuns)] = cpu;
    runs.forEach((run, i) => {
      const same = run.epochs.map((epoch) => epoch.valAccuracy).join() === twins[i]!.epochs.map((epoch) => epoch.valAccuracy).join();
      if (!same) options.log(`run ${i + 1} (TRAINER_MAX_RUNS=${maxRuns}) differs from its in-process twin`);
      identical &&= same;
    });
    options.log(`  ${fixed(seconds, 1)} s`);
  }
  const { log: _log, ...rest } = options;
  return { options: rest, wallSeconds, cpuSeconds, speedup: wallSeconds["1"]! / wallSeconds["2"]!, identical };
}

export function renderParallelReport(report: ParallelRunsReport, header: string): string {
  const { runs, epochs, hidden } = report.options;
  return [
    header,
    "",
    markdownTable(
      ["TRAINER_MAX_RUNS", `sweep of ${runs} runs [784,${hidden},10], ${epochs} epochs, plain data: wall seconds`, "speed-up", "CPU seconds by process kind (share of the 2 cores' wall time)"],
      ["1", "2"].map((maxRuns) => {
        const cpu = report.cpuSeconds[maxRuns]!;
        const total = Object.values(cpu).reduce((sum, seconds) => sum + seconds, 0);
        const kinds = Object.entries(cpu)
          .sort(([, a], [, b]) => b - a)
          .map(([kind, seconds]) => `${kind} ${fixed(seconds, 2)}`)
          .join(", ");
        return [maxRuns, fixed(report.wallSeconds[maxRuns]!, 1), maxRuns === "1" ? "1.00" : fixed(report.speedup, 2), `${kinds} (${fixed((100 * total) / (2 * report.wallSeconds[maxRuns]!), 0)} %)`];
      }),
    ),
    "",
    `Every run's validation accuracy, epoch by epoch, equals its in-process twin's: ${report.identical ? "yes" : "**no**"}.`,
  ].join("\n");
}
