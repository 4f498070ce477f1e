import { coreSettings, sgemmPeakShape, type CoreRow, type SgemmPeak } from "./core-bench.js";
import { machineLines, type MachineInfo } from "./machine.js";
import { fixed, markdownTable } from "./report.js";

export interface CoreReport {
  machine: MachineInfo;
  settings: typeof coreSettings;
  /** null when python3-torch is missing. */
  torch: string | null;
  peaks: SgemmPeak[];
  rows: CoreRow[];
  /** Issue 12 §3's goals, each against PyTorch at its best thread count. */
  goals: Goal[];
}

export interface Goal {
  config: string;
  /** PyTorch / core that is asked for. */
  target: number;
  /** Measured, each side at its best thread count; null when PyTorch was not measured. */
  ratio: number | null;
  /** The most the ratio could be: PyTorch's time over the epoch's products at the 2-thread sgemm peak of this run. */
  ceiling: number | null;
}

const name = (row: Pick<CoreRow, "sizes">) => `[${row.sizes.join(",")}]`;

/** Issue 12 §3: [784,30,10] m=10 ≥ 15×, [784,100,10] and [784,800,10] m=10 ≥ 10×, every network at m=100 ≥ 2.5×. */
export function goalsOf(rows: CoreRow[], peaks: SgemmPeak[], trainingImages: number): Goal[] {
  const peak2 = peakOf(peaks, 2);
  return rows.map((r) => {
    const target = r.miniBatch === 100 ? 2.5 : r.sizes[1] === 30 ? 15 : 10;
    const atPeak = (r.flopsPerExample * trainingImages) / (peak2 * 1e9);
    return { config: `${name(r)} m=${r.miniBatch}`, target, ratio: r.ratio, ceiling: r.bestPeer ? r.bestPeer.medianSeconds / atPeak : null };
  });
}

function peakOf(peaks: SgemmPeak[], threads: number): number {
  return peaks.find((p) => p.threads === threads)?.gflops ?? NaN;
}

export function coreTable(report: CoreReport): string {
  const peak1 = peakOf(report.peaks, 1);
  const rows = report.rows.map((r) => [
    name(r),
    r.miniBatch,
    fixed(r.core.medianSeconds, 3),
    r.core2 ? fixed(r.core2.medianSeconds, 3) : "–",
    r.bestPeer ? `${fixed(r.bestPeer.medianSeconds, 2)} (${r.bestPeer.threads}T)` : "–",
    r.ratio === null ? "–" : `${fixed(r.ratio, 1)}× (core ${r.bestCore.threads}T)`,
    fixed(r.coreGflops, 1),
    `${fixed((100 * r.coreGflops) / peak1, 0)}%`,
    fixed(r.sgemmShapeGflops, 1),
  ]);
  return markdownTable(
    [
      "network",
      "m",
      "core s/epoch (1 thread, default)",
      "core s/epoch (2 threads)",
      "PyTorch best s/epoch (threads)",
      "PyTorch / core, each at its best",
      "core GFLOP/s (1 thread)",
      "of 1-thread sgemm peak",
      "sgemm GFLOP/s at m×784·784×hidden, 1 thread",
    ],
    rows,
  );
}

/** Per thread count, and the validation accuracy each side reached: the same maths should land close. */
export function detailTable(report: CoreReport): string {
  const rows = report.rows.map((r) => {
    const peer = (threads: number) => r.peers.find((p) => p.threads === threads);
    const p1 = peer(1), p2 = peer(2);
    const epochs = (n: number) => (n === 1 ? "1 epoch" : `${n} epochs`);
    return [
      name(r),
      r.miniBatch,
      r.core.epochSeconds.map((s) => fixed(s, 3)).join(", "),
      p1 ? fixed(p1.medianSeconds, 2) : "–",
      p2 ? fixed(p2.medianSeconds, 2) : "–",
      `${fixed(100 * r.core.valAccuracy, 2)}% (${epochs(r.core.epochSeconds.length + 1)})`,
      p1 ? `${fixed(100 * p1.valAccuracy, 2)}% (${epochs(p1.epochSeconds.length)} + warm-up)` : "–",
    ];
  });
  return markdownTable(
    ["network", "m", "core timed epochs, s (1 thread)", "PyTorch 1 thread", "PyTorch 2 threads", "core validation acc.", "PyTorch validation acc. (1 thread)"],
    rows,
  );
}

export function renderCoreReport(report: CoreReport): string {
  const s = report.settings;
  const peaks = report.peaks.map((p) => `${fixed(p.gflops, 0)} GFLOP/s on ${p.threads} thread${p.threads > 1 ? "s" : ""}`).join(", ");
  const goals = markdownTable(
    ["configuration", "goal", "measured", "met", "ceiling: PyTorch / the epoch's products at the 2-thread sgemm peak"],
    report.goals.map((g) => [
      g.config,
      `≥ ${g.target}×`,
      g.ratio === null ? "not measured" : `${fixed(g.ratio, 1)}×`,
      g.ratio === null ? "–" : g.ratio >= g.target ? "yes" : "no",
      g.ceiling === null ? "–" : `${fixed(g.ceiling, 1)}×${g.ceiling < g.target ? " (the goal is past what this machine can do)" : ""}`,
    ]),
  );
  return [
    "# Core benchmark: seconds per 50,000-image epoch, native core vs PyTorch CPU",
    "",
    ...machineLines(report.machine),
    `- PyTorch: ${report.torch ?? "not installed (apt-get install -y python3-torch)"}`,
    `- settings: ${s.activation}, ${s.cost}, λ=${s.lambda}, η=${s.eta}, ${s.init} init (weights N(0,1/n_in), biases N(0,1)), seed ${s.seed}`,
    `- cblas_sgemm peak (${sgemmPeakShape}, best of 3, this run): ${peaks}`,
    "- core: median of the timed epochs after one warm-up epoch; PyTorch: median of its timed epochs after an untimed warm-up epoch, except [784,800,10] at m=10 (one timed epoch after 300 warm-up mini-batches: ANCHORS.md has it at ~20 s an epoch), best of 1 and 2 threads, each in its own process",
    "- GFLOP/s: matrix-product FLOPs per example = 4·Σ n_in·n_out + 2·Σ_{l≥1} n_in·n_out (forward, weight gradient, back-propagation above the first layer) × 50,000 / core s/epoch",
    "",
    coreTable(report),
    "",
    "## Goals (issue 12 §3), each side at its best thread count",
    "",
    goals,
    "",
    "## Per thread count, and accuracy as a check of the same maths",
    "",
    detailTable(report),
    "",
  ].join("\n");
}
