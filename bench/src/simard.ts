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

/** `argv` with each flag's value replaced, or the flag added at the end where `argv` has none. */
function withFlags(argv: string[], flags: Record<string, string>): string[] {
  const copy = [...argv];
  for (const [flag, value] of Object.entries(flags)) {
    const at = copy.indexOf(flag);
    if (at === -1) copy.push(flag, value);
    else copy[at + 1] = value;
  }
  return copy;
}

export interface SimardRow {
  name: string;
  /** The exact `mnistctl run` arguments; `mnistctl train` with the same ones gives the same bits. */
  argv: string[];
  augmentation: string;
  /** Simard et al.'s figure for this row (test accuracy), where the paper has one. */
  paper?: number;
  /** A row past the paper: the row it is measured against and what it changes there. */
  step?: { after: string; change: string };
}

const affineElastic6 = [...common, "--augment", "affine,elastic=34/6"];
const patient30 = withFlags(affineElastic6, { "--decay-after": "30", "--epochs": "800" });
const relu = withFlags(affineElastic6, { "--activation": "relu", "--eta": "0.1" });

export const simardRows: SimardRow[] = [
  { name: "simard-plain", argv: [...common, "--augment", "none"], augmentation: "none", paper: 0.984 },
  { name: "simard-affine", argv: [...common, "--augment", "affine"], augmentation: "affine (rotate 15°, translate 2 px, skew 0.3, scale 10 %)", paper: 0.989 },
  { name: "simard-elastic", argv: [...common, "--augment", "elastic"], augmentation: "affine + elastic α=34 σ=4 (the preset)", paper: 0.993 },
  { name: "simard-affine-elastic6", argv: affineElastic6, augmentation: "affine + milder elastic α=34 σ=6", paper: 0.993 },
  { name: "simard-elastic-only", argv: [...common, "--augment", "elastic=34/4"], augmentation: "elastic α=34 σ=4 alone (Simard's)", paper: 0.993 },
  {
    name: "simard-affine-elastic6-patient",
    argv: withFlags(affineElastic6, { "--decay-after": "20", "--epochs": "600" }),
    augmentation: "affine + elastic α=34 σ=6, η halved after 20 epochs without a new best",
    paper: 0.993,
  },
  { name: "simard-affine-elastic6-patient30", argv: patient30, augmentation: "affine + elastic α=34 σ=6, η halved after 30 epochs without a new best", paper: 0.993 },
  { name: "simard-affine-elastic6-patient30-seed2", argv: withFlags(patient30, { "--seed": "2" }), augmentation: "the same, seed 2", paper: 0.993 },
  // Past the paper: one change at a time on the affine + elastic σ=6 row (η halved after 10 epochs without a new best).
  { name: "beyond-tanh", argv: withFlags(affineElastic6, { "--activation": "tanh", "--eta": "0.05" }), augmentation: "affine + elastic α=34 σ=6", step: { after: "simard-affine-elastic6", change: "tanh hidden units, η=0.05" } },
  { name: "beyond-momentum", argv: withFlags(affineElastic6, { "--momentum": "0.9", "--eta": "0.05" }), augmentation: "affine + elastic α=34 σ=6", step: { after: "simard-affine-elastic6", change: "momentum 0.9, η=0.05" } },
  { name: "beyond-relu", argv: relu, augmentation: "affine + elastic α=34 σ=6", step: { after: "simard-affine-elastic6", change: "ReLU hidden units, η=0.1" } },
  { name: "beyond-relu-momentum", argv: withFlags(relu, { "--momentum": "0.9", "--eta": "0.01" }), augmentation: "affine + elastic α=34 σ=6", step: { after: "beyond-relu", change: "+ momentum 0.9, η=0.01" } },
  { name: "beyond-relu-dropout", argv: withFlags(relu, { "--dropout": "0.5" }), augmentation: "affine + elastic α=34 σ=6", step: { after: "beyond-relu", change: "+ dropout 0.5 of the hidden units" } },
  { name: "beyond-relu-wide", argv: withFlags(relu, { "--sizes": "784,1600,10" }), augmentation: "affine + elastic α=34 σ=6", step: { after: "beyond-relu", change: "1,600 hidden units instead of 800" } },
  { name: "beyond-relu-elastic4", argv: withFlags(relu, { "--augment": "elastic" }), augmentation: "affine + elastic α=34 σ=4 (the preset)", step: { after: "beyond-relu", change: "the stronger preset distortion, elastic σ=4" } },
  { name: "beyond-relu-deep", argv: withFlags(relu, { "--sizes": "784,800,800,10" }), augmentation: "affine + elastic α=34 σ=6", step: { after: "beyond-relu", change: "two hidden layers of 800" } },
  {
    name: "beyond-relu-deep-patient30",
    argv: withFlags(relu, { "--sizes": "784,800,800,10", "--decay-after": "30", "--epochs": "800" }),
    augmentation: "affine + elastic α=34 σ=6",
    step: { after: "beyond-relu-deep", change: "η halved after 30 epochs without a new best instead of 10" },
  },
];


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

/** The core's kernels named in a BLAS configuration line ("…; kernels: avx512"): what decides a run's bits. */
export const kernelsOf = (blasConfig: string) => /kernels: (\w+)/.exec(blasConfig)?.[1] ?? "openblas";

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
    machine: { cpu: machine.cpu, cores: machine.cores, blasThreads: json.blasThreads, kernels: kernelsOf(machine.openblas) },
  };
}

/** `argv` with its --epochs replaced: the first epochs of a run are the same bits whatever its cap. */
const withEpochs = (argv: string[], epochs: number) => withFlags(argv, { "--epochs": String(epochs) });

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
  /** Set when the recorded run trained on other kernels than this machine's: its bits are not this machine's to reproduce. */
  otherKernels?: string;
  /** The first epoch whose figures differ, if any. */
  differs?: { epoch: number; recorded: SimardEpoch; now: SimardEpoch };
}

const flagValue = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

function plotTitle(row: SimardRow): string {
  const schedule = `η halved after ${flagValue(row.argv, "--decay-after")} epochs without a new best`;
  if (!row.step) return `${row.name}: --augment ${flagValue(row.argv, "--augment")}, ${schedule}`;
  return `${row.name}: ${row.step.change} (after ${row.step.after})${row.step.change.includes("η halved") ? "" : `, ${schedule}`}`;
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
      if (options.plotDir && !options.quick) await mnistctl(["plot", json.runId, "--out", `${options.plotDir}/${row.name}.png`, "--title", plotTitle(row), "--server", server]);
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
    if (known && known.machine.kernels !== entry.machine.kernels) {
      return { ...check, identical: false, otherKernels: `recorded on ${machineName(known.machine)}, this machine runs ${entry.machine.kernels} kernels: not comparable bit for bit` };
    }
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

/** "Intel Xeon (avx512)": the CPU and the core's kernels, which decide a run's bits. */
const machineName = (machine: SimardEntry["machine"]) => `${machine.cpu.replace(/\((R|TM)\)/g, "").replace(/ (Processor|CPU).*$/, "").trim()} (${machine.kernels})`;

/** The entries in the rows' order: `fresh` ones, and for the rows not among them the `recorded` ones (a run added without repeating the others). */
export function mergeEntries(fresh: SimardEntry[], recorded: SimardEntry[]): SimardEntry[] {
  const byName = new Map([...recorded, ...fresh].map((entry) => [entry.name, entry]));
  return simardRows.flatMap((row) => byName.get(row.name) ?? []);
}

export function renderSimardReport(entries: SimardEntry[], machineLines: string[]): string {
  const best = (entry: SimardEntry) => `${percent(entry.epochs[entry.bestEpoch]!.valAccuracy)} (${entry.bestEpoch})`;
  const secondsPerEpoch = (entry: SimardEntry) => `${(entry.epochs.reduce((sum, epoch) => sum + epoch.trainSeconds, 0) / entry.epochs.length).toFixed(2)} s`;
  const stepOf = (entry: SimardEntry) => simardRows.find((row) => row.name === entry.name)?.step;
  const paperRows = entries.filter((entry) => !stepOf(entry));
  const beyondRows = entries.filter((entry) => stepOf(entry));
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const points = (value: number) => `${value >= 0 ? "+" : "−"}${Math.abs(value * 100).toFixed(2)}`;
  return [
    "# Simard's [784,800,10] through the pipeline, and past it",
    "",
    ...machineLines,
    "- every row: `mnistctl run` on a local cluster (nats-server, 2 augment replicas, 1 trainer, the evaluator, on 2 cores), [784,800,10] sigmoid, cross-entropy, η=0.5, λ=0.5, m=10, seed 1 unless the row says otherwise; the evaluator halves η after 10 epochs (the patient rows: 20 and 30) without a new best validation accuracy and stops once η has fallen to η₀/1024; test accuracy of the best-validation weights",
    "- the paper's column: Simard, Steinkraus and Platt (2003), 2-layer MLP with 800 hidden units, cross-entropy (test accuracy = 100 % − their error)",
    "- the machine line above is the one that wrote this file; the tables' machine column is the CPU each run trained on and the core's kernels there (the kernels decide the bits; `simard.json` keeps each run's machine)",
    "",
    markdownTable(
      ["run", "training data", "epochs", "best validation (epoch)", "test", "paper", "wall time", "train s / epoch", "machine"],
      paperRows.map((entry) => [`\`${entry.name}\``, entry.augmentation, entry.epochs.length, best(entry), `**${percent(entry.testAccuracy)}**`, entry.paper === null ? "–" : percent(entry.paper), duration(entry.wallSeconds), secondsPerEpoch(entry), machineName(entry.machine)]),
    ),
    ...(beyondRows.length
      ? [
          "",
          "## Past the paper, one change at a time",
          "",
          "Each row changes one thing of the row it names (training data affine + elastic α=34 σ=6, η halved after 10 epochs without a new best, as `simard-affine-elastic6`); Δ test is against that row. η for each change was picked by 6-epoch in-process runs (`mnistctl train`, about 12 s each).",
          "",
          markdownTable(
            ["run", "change", "after", "epochs", "best validation (epoch)", "test", "Δ test (points)", "wall time", "train s / epoch", "machine"],
            beyondRows.map((entry) => {
              const step = stepOf(entry)!;
              const before = byName.get(step.after);
              return [`\`${entry.name}\``, step.change, `\`${step.after}\``, entry.epochs.length, best(entry), `**${percent(entry.testAccuracy)}**`, before ? points(entry.testAccuracy - before.testAccuracy) : "–", duration(entry.wallSeconds), secondsPerEpoch(entry), machineName(entry.machine)];
            }),
          ),
        ]
      : []),
    "",
    "Each run's exact arguments are in `simard.json` (`argv`); `mnistctl train` with them gives the same bits on a CPU of the same kernel family. Curves: `<run>.png` beside this file.",
    "",
  ].join("\n");
}
