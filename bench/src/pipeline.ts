import { readFileSync } from "node:fs";
import { createClient } from "@mnist/grpc";
import { loadMnist } from "@mnist/core";
import { RunService, RunState } from "@mnist/protocol";
import { presets, runSpec, type PresetName } from "@mnist/spec";
import { NATS_SLICE_EXAMPLES, sliceSizeFor, trainLocally } from "@mnist/training";
import { LocalCluster } from "mnistctl/launcher";
import { fixed, markdownTable } from "./report.js";
import { median } from "./stats.js";
import type { ParallelRunsReport } from "./parallel-runs.js";

/**
 * The distributed pipeline against in-process training, on one machine: the same run through the
 * services (augment replicas → NATS → trainer, the evaluator steering) and in this process, and where
 * the services' CPU goes.
 */

export interface PipelineOptions {
  epochs: number;
  hidden: number;
  replicas: number[];
  transforms: PresetName[];
  log: (line: string) => void;
}

export interface PipelineRow {
  transform: PresetName;
  replicas: number;
  /** Median training images/s over the epochs after the first. */
  services: number;
  inProcess: number;
  ratio: number;
  /** Median images/s over whole epoch cycles (training, checkpoint or evaluation, the decision), epochs after the second. */
  servicesCycle: number;
  inProcessCycle: number;
  /** The trainer's median share of an epoch's training time spent waiting for the next slice. */
  waitShare: number;
  /** CPU seconds per epoch of the trainer's main (JavaScript) thread: receiving, unpacking, checkpoints. */
  trainerMainCpuPerEpoch: number;
  /** Milliseconds of CPU per slice moved: augment, nats-server and the trainer's main thread together. */
  sliceCpuMs: number;
  /** CPU seconds per epoch, by process kind. */
  cpuPerEpoch: Record<string, number>;
  /** Resident memory at the end of the run, MB, by process. */
  rssMb: Record<string, number>;
}

/** CPU seconds of a process's main thread (its thread id is its pid). */
function mainThreadCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function procStat(pid: number): { cpu: number; rssMb: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { cpu: (Number(fields[11]) + Number(fields[12])) / 100, rssMb: rss ? Number(rss[1]) / 1024 : 0 };
}

export const kindOf = (name: string) => name.replace(/-\d+$/, "");
const spec = (transform: PresetName, options: PipelineOptions) => ({ sizes: [784, options.hidden, 10], epochs: options.epochs, seed: 1n, eta: 0.5, augment: { ...presets[transform] } });
const laterEpochs = (rates: number[]) => median(rates.slice(1));

/** An epoch's examples, from its rate and time (both sides report those). */
const epochExamples = (epoch: { imagesPerSecond: number; trainSeconds: number }) => Math.round(epoch.imagesPerSecond * epoch.trainSeconds);

/** Median of examples / seconds between consecutive epoch ends, from the third epoch end on. */
const cycleRate = (endsMs: number[], examples: number) => median(endsMs.slice(2).map((end, i) => examples / ((end - endsMs[i + 1]!) / 1000)));

interface TrainerEpochLine {
  time: string;
  trainSeconds: number;
  waitSeconds: number;
}

async function throughServices(transform: PresetName, replicas: number, options: PipelineOptions): Promise<Omit<PipelineRow, "inProcess" | "ratio" | "inProcessCycle">> {
  const pids = new Map<string, number>();
  const trained: TrainerEpochLine[] = [];
  const cluster = new LocalCluster({
    dashboardPort: 0,
    onServiceLine: (name, line) => {
      if (name.startsWith("trainer") && line.includes('"epoch trained"')) trained.push(JSON.parse(line) as TrainerEpochLine);
    },
    augmentReplicas: replicas,
    trainers: 1,
    startTimeoutMs: 60_000,
    graceMs: 5_000,
    env: { TRAINER_BLAS_THREADS: "1" },
    onStarted: (name, started) => pids.set(name, started.pid),
  });
  await cluster.start();
  const client = createClient(RunService, cluster.evaluator);
  try {
    const before = new Map([...pids].map(([name, pid]) => [name, procStat(pid).cpu]));
    const trainerPid = pids.get("trainer-1")!;
    const trainerMainBefore = mainThreadCpu(trainerPid);
    const { runId } = await client.launchRun({ spec: spec(transform, options) });
    for (;;) {
      const { run } = await client.getRun({ runId });
      if (run!.state === RunState.FINISHED) {
        const cpuPerEpoch: Record<string, number> = {};
        const rssMb: Record<string, number> = {};
        for (const [name, pid] of pids) {
          const now = procStat(pid);
          cpuPerEpoch[kindOf(name)] = (cpuPerEpoch[kindOf(name)] ?? 0) + (now.cpu - before.get(name)!) / options.epochs;
          rssMb[name] = now.rssMb;
        }
        const trainerMainCpuPerEpoch = (mainThreadCpu(trainerPid) - trainerMainBefore) / options.epochs;
        const examples = epochExamples(run!.epochs[0]!);
        const slicesPerEpoch = Math.ceil(examples / sliceSizeFor(runSpec(spec(transform, options)).miniBatch, NATS_SLICE_EXAMPLES));
        const movingCpu = (cpuPerEpoch["augment"] ?? 0) + (cpuPerEpoch["nats-server"] ?? 0) + trainerMainCpuPerEpoch;
        return {
          transform,
          replicas,
          services: laterEpochs(run!.epochs.map((epoch) => epoch.imagesPerSecond)),
          servicesCycle: cycleRate(trained.map((line) => Date.parse(line.time)), examples),
          waitShare: median(trained.slice(1).map((line) => line.waitSeconds / line.trainSeconds)),
          trainerMainCpuPerEpoch,
          sliceCpuMs: (1000 * movingCpu) / slicesPerEpoch,
          cpuPerEpoch,
          rssMb,
        };
      }
      if (run!.state !== RunState.QUEUED && run!.state !== RunState.RUNNING) throw new Error(`run ${runId} ended ${run!.state}: ${run!.stopReason}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.close();
    await cluster.stop();
  }
}

export async function runPipeline(options: PipelineOptions): Promise<PipelineRow[]> {
  const mnist = loadMnist();
  const rows: PipelineRow[] = [];
  for (const transform of options.transforms) {
    options.log(`${transform}: in-process`);
    const ends: number[] = [];
    const local = await trainLocally(runSpec(spec(transform, options)), { mnist, onEpoch: () => ends.push(performance.now()) });
    const inProcess = laterEpochs(local.epochs.map((epoch) => epoch.imagesPerSecond));
    const inProcessCycle = cycleRate(ends, epochExamples(local.epochs[0]!));
    for (const replicas of options.replicas) {
      options.log(`${transform}: through the services, ${replicas} augment replica(s)`);
      const row = await throughServices(transform, replicas, options);
      rows.push({ ...row, inProcess, ratio: row.services / inProcess, inProcessCycle });
    }
  }
  return rows;
}

export function renderPipelineReport(rows: PipelineRow[], header: string): string {
  const kinds = ["trainer", "augment", "evaluator", "nats-server"];
  return [
    header,
    "",
    markdownTable(
      [
        "augmentation",
        "replicas",
        "services img/s",
        "in-process img/s",
        "ratio",
        "whole epochs: services / in-process img/s",
        "trainer waiting",
        ...kinds.map((kind) => `${kind} CPU s/epoch`),
        "trainer main thread CPU s/epoch",
        "CPU ms per slice moved",
        "RSS MB (each process)",
      ],
      rows.map((row) => [
        row.transform,
        row.replicas,
        Math.round(row.services),
        Math.round(row.inProcess),
        fixed(row.ratio, 2),
        `${Math.round(row.servicesCycle)} / ${Math.round(row.inProcessCycle)} = ${fixed(row.servicesCycle / row.inProcessCycle, 2)}`,
        `${fixed(100 * row.waitShare, 0)} %`,
        ...kinds.map((kind) => fixed(row.cpuPerEpoch[kind] ?? 0, 3)),
        fixed(row.trainerMainCpuPerEpoch, 3),
        fixed(row.sliceCpuMs, 1),
        Object.entries(row.rssMb)
          .map(([name, mb]) => `${name} ${Math.round(mb)}`)
          .join(", "),
      ]),
    ),
    "",
    `Images/s: the median over the epochs after the first (the trainer's own wall time per epoch, waiting for data included). Whole epochs: examples over the time between consecutive epoch ends (the trainer's log; in process, \`onEpoch\`), epochs after the second: training plus the checkpoint and the evaluator's decision (services) or the evaluation (in process) — the trainer prefetches the next epoch's first slices while it waits for the decision, work the first column does not see. Trainer waiting: the median share of an epoch's training time spent waiting for the next slice. CPU: user + system seconds of each process kind (all its threads, augment replicas summed) over the run, per epoch; the trainer's main thread apart (receiving, unpacking, checkpoints: training runs on the thread pool). CPU per slice moved: augment, nats-server and the trainer's main thread per slice of ${NATS_SLICE_EXAMPLES} examples.`,
  ].join("\n");
}

/**
 * What limits throughput on these cores, from this run's own figures: the CPU each process kind
 * spends per epoch beside the training itself, and what more cores change.
 */
export function limitsParagraph(rows: PipelineRow[], parallel: ParallelRunsReport): string {
  const plain = rows.find((row) => row.transform === "none" && row.replicas === 2) ?? rows[0]!;
  const training = 50_000 / plain.inProcess;
  const others = (plain.cpuPerEpoch["augment"] ?? 0) + (plain.cpuPerEpoch["nats-server"] ?? 0) + plain.trainerMainCpuPerEpoch;
  const sweepShare = (maxRuns: string) => {
    const cpu = Object.values(parallel.cpuSeconds[maxRuns]!).reduce((sum, seconds) => sum + seconds, 0);
    return (100 * cpu) / (2 * parallel.wallSeconds[maxRuns]!);
  };
  return [
    "## What limits throughput on 2 cores, and what changes on more",
    "",
    `Training a plain epoch of [784,100,10] takes ${fixed(training, 2)} s of one core in process. Through the services the same epoch also costs ` +
      `${fixed(others, 2)} CPU s of moving data (augment ${fixed(plain.cpuPerEpoch["augment"] ?? 0, 2)}, nats-server ${fixed(plain.cpuPerEpoch["nats-server"] ?? 0, 2)}, ` +
      `the trainer's main thread ${fixed(plain.trainerMainCpuPerEpoch, 2)} — ${fixed(plain.sliceCpuMs, 1)} ms per slice), all of it on the one core the training thread does not use, ` +
      `where it competes with that thread whenever more than two threads are runnable; the trainer itself waits for data ${fixed(100 * plain.waitShare, 0)} % of its training time. ` +
      `With elastic distortions the replicas' work (${fixed(rows.find((row) => row.transform === "elastic" && row.replicas === 2)?.cpuPerEpoch["augment"] ?? 0, 2)} CPU s an epoch) is the larger share, and the in-process path does the same work on the same two cores. ` +
      `The sweep of small runs is the extreme: [784,30,10] trains an epoch in well under 0.1 s, so the epoch boundary (checkpoint stored, scored, decided) and the data's cost are most of its CPU; ` +
      `one run at a time keeps the cores ${fixed(sweepShare("1"), 0)} % busy, two at once ${fixed(sweepShare("2"), 0)} % — the speed-up is what that leaves room for. ` +
      "On a machine with more cores (or a cluster), the replicas, the nats-server and the evaluator run beside the trainer instead of on its second core: " +
      "the services then cost the trainer only its main thread's receiving, and adding replicas scales distorted data (`augment-scaling`).",
  ].join("\n");
}
