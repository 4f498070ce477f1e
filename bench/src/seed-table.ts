import type { Mnist } from "@mnist/core";
import { Activation, Cost, EvalSet, Init } from "@mnist/protocol";
import { runSpec } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { describeFigure, describeMeasure, describeRun, rows, runs, type ChapterFigure, type Measure, type Row, type RunName, type RunSettings } from "./experiments.js";
import { machineLines, type MachineInfo } from "./machine.js";
import { fixed, markdownTable } from "./report.js";
import { spread, type Spread } from "./stats.js";

/** One run of one seed: the evaluation accuracy (fraction) after every epoch. */
export interface RunRecord {
  run: RunName;
  seed: number;
  accuracies: number[];
  wallSeconds: number;
  blasThreads: number;
}

/** The exact in-process path `mnistctl train` takes: a resolved run spec through trainLocally. */
export async function trainRun(settings: RunSettings, seed: number, mnist: Mnist): Promise<Omit<RunRecord, "run">> {
  const spec = runSpec({
    name: "seed-table",
    sizes: settings.sizes,
    activation: Activation.SIGMOID,
    cost: Cost.CROSS_ENTROPY,
    init: settings.init === "large" ? Init.LARGE : Init.DEFAULT,
    eta: settings.eta,
    lambda: settings.lambda,
    epochs: settings.epochs,
    miniBatch: 10,
    evalOn: settings.evalOn === "test" ? EvalSet.TEST : EvalSet.VALIDATION,
    trainLimit: settings.trainLimit,
    seed: BigInt(seed),
    monitor: { evalAccuracy: true },
  });
  const result = await trainLocally(spec, { mnist });
  return { seed, accuracies: result.epochs.map((e) => e.valAccuracy!), wallSeconds: result.wallSeconds, blasThreads: result.blasThreads };
}

export function measured(accuracies: number[], measure: Measure): number {
  if (measure === "epoch1") return accuracies[0]!;
  if (measure === "peak") return Math.max(...accuracies);
  return accuracies.at(-1)!;
}

export interface RowResult {
  row: Row;
  /** Percent, per seed in seed order. */
  values: number[];
  spread: Spread;
  /** The seeds' mean less the chapter's figure, in points. */
  difference: number;
  verdict: string;
}

/**
 * Judged on the seeds, not on one: a figure the chapter states ("=", "~") is met ("✓") when it
 * lies within the seeds' range or within half a point (a "~" figure: its tolerance) of their
 * mean; a bound ("<", ">") when the seeds' mean is on its side. Otherwise "✗", with how many seeds
 * would meet it alone; README.md explains each of those.
 */
export function verdict(f: ChapterFigure, values: number[], s: Spread): string {
  const meets = (value: number) => {
    switch (f.relation) {
      case "<":
        return value < f.percent;
      case ">":
        return value > f.percent;
      case "~":
        return Math.abs(value - f.percent) <= (f.tolerance ?? 0.5);
      case "=":
        return Math.abs(value - f.percent) <= 0.5;
    }
  };
  const inRange = (f.relation === "=" || f.relation === "~") && f.percent >= s.min && f.percent <= s.max;
  if (inRange || meets(s.mean)) return "✓";
  const alone = values.filter(meets).length;
  return `✗ (${alone} of ${values.length} seeds alone)`;
}

export function rowResults(records: RunRecord[], seeds: number[]): RowResult[] {
  return rows
    .filter((row) => records.some((r) => r.run === row.run))
    .map((row) => {
      const values = seeds.map((seed) => 100 * measured(records.find((r) => r.run === row.run && r.seed === seed)!.accuracies, row.measure));
      const s = spread(values);
      return { row, values, spread: s, difference: s.mean - row.chapter.percent, verdict: verdict(row.chapter, values, s) };
    });
}

export interface SeedTableOptions {
  mnist: Mnist;
  seeds: number[];
  only?: RunName[];
  log: (line: string) => void;
}

/** Every selected run for every seed, one after another (each run keeps a core busy). */
export async function runSeedTable(o: SeedTableOptions): Promise<RunRecord[]> {
  const names = (Object.keys(runs) as RunName[]).filter((name) => !o.only || o.only.includes(name));
  const records: RunRecord[] = [];
  for (const seed of o.seeds) {
    for (const run of names) {
      const record = { run, ...(await trainRun(runs[run], seed, o.mnist)) };
      records.push(record);
      const last = 100 * record.accuracies.at(-1)!, peak = 100 * Math.max(...record.accuracies);
      o.log(`seed ${seed} ${run}: ${describeRun(runs[run])}: last ${fixed(last, 2)}%, peak ${fixed(peak, 2)}%, ${fixed(record.wallSeconds, 1)} s`);
    }
  }
  return records;
}

const pct = (v: number) => `${fixed(v, 2)}%`;
const signed = (v: number) => `${v >= 0 ? "+" : "−"}${fixed(Math.abs(v), 2)}`;

export function seedTable(results: RowResult[]): string {
  const seeds = results[0]?.values.length ?? 0;
  return markdownTable(
    ["experiment", "setting", "measured on", "chapter", `ours: seeds 1–${seeds}, mean ± sd [min–max]`, "mean − chapter (points)", "verdict"],
    results.map((r) => {
      const settings = runs[r.row.run];
      const s = r.spread;
      return [
        r.row.experiment,
        describeRun(settings),
        describeMeasure(r.row.measure, settings.evalOn),
        describeFigure(r.row.chapter),
        `${pct(s.mean)} ± ${fixed(s.stdev, 2)} [${fixed(s.min, 2)}–${fixed(s.max, 2)}]`,
        signed(r.difference),
        r.verdict,
      ];
    }),
  );
}

/** Every seed's figure, so the spread can be checked by eye. */
export function perSeedTable(results: RowResult[], seeds: number[]): string {
  return markdownTable(
    ["experiment", "chapter", ...seeds.map((s) => `seed ${s}`)],
    results.map((r) => [r.row.experiment, describeFigure(r.row.chapter), ...r.values.map((v) => fixed(v, 2))]),
  );
}

export interface SeedReport {
  machine: MachineInfo;
  seeds: number[];
  results: RowResult[];
  records: RunRecord[];
}

export function renderSeedReport(report: SeedReport): string {
  const threads = [...new Set(report.records.map((r) => r.blasThreads))].join(", ");
  const wall = report.records.reduce((sum, r) => sum + r.wallSeconds, 0);
  const lines = [
    "# The chapter's results, reproduced",
    "",
    ...machineLines(report.machine),
    `- path: \`runSpec\` → \`trainLocally\` (@mnist/training), the in-process path of \`mnistctl train\`; sigmoid, cross-entropy, mini-batch 10; OpenBLAS threads ${threads}`,
    `- training time: ${fixed(wall / 60, 1)} min over ${report.records.length} runs (seeds ${report.seeds.join(", ")})`,
    "- chapter figures from /work/shared/seed (one run each of the chapter's network2.py, numpy float64); ours are float32, seeded, and use our own shuffling and initial draws",
    "- verdict, on the seeds rather than one of them: ✓ when the chapter's figure lies within our seeds' range or within 0.5 points of their mean (a bound: when their mean is on its side); ✗ otherwise, with how many seeds would meet it alone — README.md, \"The chapter's table\", says what explains each ✗",
    "",
    seedTable(report.results),
    "",
  ];
  if (report.seeds.length > 1) lines.push("## Every seed", "", perSeedTable(report.results, report.seeds), "");
  return lines.join("\n");
}
