import { readFileSync } from "node:fs";
import { createClient } from "@mnist/grpc";
import { loadMnist } from "@mnist/core";
import { RunService, RunState } from "@mnist/protocol";
import { presets, runSpec, type PresetName } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { LocalCluster } from "mnistctl/launcher";
import { fixed, markdownTable } from "./report.js";
import { median } from "./stats.js";

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
  /** CPU seconds per epoch, by process kind. */
  cpuPerEpoch: Record<string, number>;
  /** Resident memory at the end of the run, MB, by process. */
  rssMb: Record<string, number>;
}

function procStat(pid: number): { cpu: number; rssMb: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { cpu: (Number(fields[11]) + Number(fields[12])) / 100, rssMb: rss ? Number(rss[1]) / 1024 : 0 };
}

const kindOf = (name: string) => name.replace(/-\d+$/, "");
const spec = (transform: PresetName, options: PipelineOptions) => ({ sizes: [784, options.hidden, 10], epochs: options.epochs, seed: 1n, eta: 0.5, augment: { ...presets[transform] } });
const laterEpochs = (rates: number[]) => median(rates.slice(1));

async function throughServices(transform: PresetName, replicas: number, options: PipelineOptions): Promise<Omit<PipelineRow, "inProcess" | "ratio">> {
  const pids = new Map<string, number>();
  const cluster = new LocalCluster({
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
        return { transform, replicas, services: laterEpochs(run!.epochs.map((epoch) => epoch.imagesPerSecond)), cpuPerEpoch, rssMb };
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
    const local = await trainLocally(runSpec(spec(transform, options)), { mnist });
    const inProcess = laterEpochs(local.epochs.map((epoch) => epoch.imagesPerSecond));
    for (const replicas of options.replicas) {
      options.log(`${transform}: through the services, ${replicas} augment replica(s)`);
      const row = await throughServices(transform, replicas, options);
      rows.push({ ...row, inProcess, ratio: row.services / inProcess });
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
      ["augmentation", "replicas", "services img/s", "in-process img/s", "ratio", ...kinds.map((kind) => `${kind} CPU s/epoch`), "RSS MB (each process)"],
      rows.map((row) => [
        row.transform,
        row.replicas,
        Math.round(row.services),
        Math.round(row.inProcess),
        fixed(row.ratio, 2),
        ...kinds.map((kind) => fixed(row.cpuPerEpoch[kind] ?? 0, 3)),
        Object.entries(row.rssMb)
          .map(([name, mb]) => `${name} ${Math.round(mb)}`)
          .join(", "),
      ]),
    ),
    "",
    "Images/s: the median over the epochs after the first (the trainer's own wall time per epoch, waiting for data included). CPU: user + system seconds of each process kind (all its threads, augment replicas summed) over the run, per epoch.",
  ].join("\n");
}
