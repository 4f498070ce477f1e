import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { LocalCluster } from "mnistctl/launcher";
import type { MachineInfo } from "./machine.js";
import { markdownTable } from "./report.js";

/**
 * Simard, Steinkraus and Platt (2003) through the pipeline: [784,800,10] cross-entropy on plain,
 * affine and elastically distorted digits, each run launched with `mnistctl run` on a local
 * cluster (augment replicas → NATS → trainer, the evaluator halving η until η₀/1024), its
 * records read back with `mnistctl get`, its curves drawn with `mnistctl plot`.
 */

const cli = fileURLToPath(new URL("../../cli/dist/main.js", import.meta.url));
const run = promisify(execFile);

/** What every row shares: the network, the cost, η, λ, m, the schedule and the seed. */
const common = ["--sizes", "784,800,10", "--cost", "cross-entropy", "--eta", "0.5", "--lambda", "0.5", "--mb", "10", "--decay-after", "10", "--epochs", "400", "--seed", "1", "--monitor", "eval-accuracy,eval-cost"];

export interface SimardRow {
  name: string;
  /** The exact `mnistctl run` arguments; `mnistctl train` with the same ones gives the same bits. */
  argv: string[];
  augmentation: string;
  /** Simard et al.'s figure for this row (test accuracy), where the paper has one. */
  paper?: number;
}

export const simardRows: SimardRow[] = [
  { name: "simard-plain", argv: [...common, "--augment", "none"], augmentation: "none", paper: 0.984 },
  { name: "simard-affine", argv: [...common, "--augment", "affine"], augmentation: "affine (rotate 15°, translate 2 px, skew 0.3, scale 10 %)", paper: 0.989 },
  { name: "simard-elastic", argv: [...common, "--augment", "elastic"], augmentation: "affine + elastic α=34 σ=4 (the preset)", paper: 0.993 },
  { name: "simard-affine-elastic6", argv: [...common, "--augment", "affine,elastic=34/6"], augmentation: "affine + milder elastic α=34 σ=6", paper: 0.993 },
  { name: "simard-elastic-only", argv: [...common, "--augment", "elastic=34/4"], augmentation: "elastic α=34 σ=4 alone (Simard's)", paper: 0.993 },
  {
    name: "simard-affine-elastic6-patient",
    argv: withFlag(withFlag([...common, "--augment", "affine,elastic=34/6"], "--decay-after", "20"), "--epochs", "600"),
    augmentation: "affine + elastic α=34 σ=6, η halved after 20 epochs without a new best",
    paper: 0.993,
  },
  {
    name: "simard-affine-elastic6-patient30",
    argv: withFlag(withFlag([...common, "--augment", "affine,elastic=34/6"], "--decay-after", "30"), "--epochs", "800"),
    augmentation: "affine + elastic α=34 σ=6, η halved after 30 epochs without a new best",
    paper: 0.993,
  },
];

/** `argv` with `flag`'s value replaced. */
function withFlag(argv: string[], flag: string, value: string): string[] {
  const copy = [...argv];
  copy[copy.indexOf(flag) + 1] = value;
  return copy;
}

export interface SimardEpoch {
  epoch: number;
  eta: number;
  valAccuracy: number;
  valCost: number;
  trainSeconds: number;
}

export interface SimardEntry {
  name: string;
  argv: string[];
  augmentation: string;
  paper: number | null;
  epochs: SimardEpoch[];
  bestEpoch: number;
  testAccuracy: number;
  stopReason: string;
  wallSeconds: number;
  machine: { cpu: string; cores: number; blasThreads: number; kernels: string };
}

interface RecordJson {
  runId: string;
  state: string;
  epochs: SimardEpoch[];
  bestEpoch: number;
  testAccuracy?: number;
  stopReason: string;
  wallSeconds: number;
  blasThreads: number;
}

async function mnistctl(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cli, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** The newest run called `name`, found by listing (an evaluator from before names could be ids resolves no names). */
async function record(server: string, name: string): Promise<RecordJson> {
  const lines = (await mnistctl(["list", "--json", "--server", server])).trim().split("\n");
  const found = lines.map((line) => JSON.parse(line) as RecordJson & { spec: { name: string } }).find((candidate) => candidate.spec.name === name);
  if (!found) throw new Error(`no run called ${name} at ${server}`);
  return found;
}

function entryOf(row: SimardRow, json: RecordJson, machine: MachineInfo): SimardEntry {
  if (json.state !== "finished") throw new Error(`${row.name} (${json.runId}) is ${json.state}, not finished`);
  return {
    name: row.name,
    argv: row.argv,
    augmentation: row.augmentation,
    paper: row.paper ?? null,
    epochs: json.epochs.map(({ epoch, eta, valAccuracy, valCost, trainSeconds }) => ({ epoch, eta, valAccuracy, valCost, trainSeconds })),
    bestEpoch: json.bestEpoch,
    testAccuracy: json.testAccuracy ?? Number.NaN,
    stopReason: json.stopReason,
    wallSeconds: json.wallSeconds,
    machine: { cpu: machine.cpu, cores: machine.cores, blasThreads: json.blasThreads, kernels: /kernels: (\w+)/.exec(machine.openblas)?.[1] ?? "openblas" },
  };
}

/** `argv` with its --epochs replaced: the first epochs of a run are the same bits whatever its cap. */
const withEpochs = (argv: string[], epochs: number) => withFlag(argv, "--epochs", String(epochs));

export interface SimardOptions {
  /** Read finished runs of these names from an evaluator instead of training them. */
  from?: string;
  /** Train only the first `quick` epochs of each row and compare them with `recorded`. */
  quick?: number;
  only?: string[];
  machine: MachineInfo;
  plotDir?: string;
  log: (line: string) => void;
}

export interface QuickCheck {
  name: string;
  epochs: number;
  identical: boolean;
  /** The first epoch whose figures differ, if any. */
  differs?: { epoch: number; recorded: SimardEpoch; now: SimardEpoch };
}

/** Runs the rows (or reads them from an evaluator), returning their entries; plots each when plotDir is set. */
export async function runSimard(options: SimardOptions): Promise<{ entries: SimardEntry[]; quick?: QuickCheck[] }> {
  const rows = simardRows.filter((row) => !options.only || options.only.includes(row.name));
  const cluster = options.from ? undefined : new LocalCluster({ dashboardPort: 0, augmentReplicas: 2, trainers: 1, startTimeoutMs: 60_000, graceMs: 10_000, env: { TRAINER_BLAS_THREADS: "1" } });
  await cluster?.start();
  const server = options.from ?? cluster!.evaluator;
  try {
    const entries: SimardEntry[] = [];
    for (const row of rows) {
      if (!options.from) {
        const argv = options.quick ? withEpochs(row.argv, options.quick) : row.argv;
        options.log(`${row.name}: mnistctl run ${argv.join(" ")}`);
        await mnistctl(["run", ...argv, "--name", row.name, "--follow", "--json", "--server", server]);
      }
      const json = await record(server, row.name);
      const entry = entryOf(row, json, options.machine);
      options.log(`${row.name}: ${entry.epochs.length} epochs, best validation ${(entry.epochs[entry.bestEpoch]!.valAccuracy * 100).toFixed(2)} % at epoch ${entry.bestEpoch}, test ${(entry.testAccuracy * 100).toFixed(2)} %`);
      if (options.plotDir && !options.quick) await mnistctl(["plot", json.runId, "--out", `${options.plotDir}/${row.name}.png`, "--title", `${row.name}: --augment ${row.argv[row.argv.indexOf("--augment") + 1]}, η halved after ${row.argv[row.argv.indexOf("--decay-after") + 1]} epochs without a new best`, "--server", server]);
      entries.push(entry);
    }
    return { entries };
  } finally {
    await cluster?.stop();
  }
}

/** Each quick entry's epochs against the recorded run's first ones: the same bits, or where they part. */
export function compareQuick(entries: SimardEntry[], recordedFile: string): QuickCheck[] {
  const recorded = JSON.parse(readFileSync(recordedFile, "utf8")) as SimardEntry[];
  return entries.map((entry) => {
    const known = recorded.find((candidate) => candidate.name === entry.name);
    const check: QuickCheck = { name: entry.name, epochs: entry.epochs.length, identical: known !== undefined };
    for (const now of entry.epochs) {
      const before = known?.epochs[now.epoch];
      if (!before || before.eta !== now.eta || before.valAccuracy !== now.valAccuracy || before.valCost !== now.valCost) {
        check.identical = false;
        if (before) check.differs = { epoch: now.epoch, recorded: before, now };
        break;
      }
    }
    return check;
  });
}

const percent = (value: number) => `${(value * 100).toFixed(2)} %`;
const duration = (seconds: number) => (seconds < 3600 ? `${Math.round(seconds / 60)} min` : `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`);

export function renderSimardReport(entries: SimardEntry[], machineLines: string[]): string {
  const rows = entries.map((entry) => {
    const best = entry.epochs[entry.bestEpoch]!;
    return [
      `\`${entry.name}\``,
      entry.augmentation,
      entry.epochs.length,
      `${percent(best.valAccuracy)} (${entry.bestEpoch})`,
      `**${percent(entry.testAccuracy)}**`,
      entry.paper === null ? "–" : percent(entry.paper),
      duration(entry.wallSeconds),
      `${(entry.epochs.reduce((sum, epoch) => sum + epoch.trainSeconds, 0) / entry.epochs.length).toFixed(2)} s`,
    ];
  });
  return [
    "# Simard's [784,800,10] through the pipeline",
    "",
    ...machineLines,
    "- every row: `mnistctl run` on a local cluster (nats-server, 2 augment replicas, 1 trainer, the evaluator, on these 2 cores), [784,800,10] sigmoid, cross-entropy, η=0.5, λ=0.5, m=10, seed 1; the evaluator halves η after 10 epochs (the patient rows: 20 and 30) without a new best validation accuracy and stops once η has fallen to η₀/1024; test accuracy of the best-validation weights",
    "- the paper's column: Simard, Steinkraus and Platt (2003), 2-layer MLP with 800 hidden units, cross-entropy (test accuracy = 100 % − their error)",
    "",
    markdownTable(["run", "training data", "epochs", "best validation (epoch)", "test", "paper", "wall time", "train s / epoch"], rows),
    "",
    "Each run's exact arguments are in `simard.json` (`argv`); `mnistctl train` with them gives the same bits on a CPU of the same kernel family. Curves: `simard-<run>.png`.",
    "",
  ].join("\n");
}
