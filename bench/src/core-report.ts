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
  /** met: null when PyTorch was not measured. */
  goal: { met: boolean | null; ratios: { config: string; ratio: number | null }[] };
}

const name = (row: Pick<CoreRow, "sizes">) => `[${row.sizes.join(",")}]`;

/** The issue's goal: the core ≥ 5× faster than PyTorch at m=10 for [784,30,10] and [784,100,10]. */
export function goalOf(rows: CoreRow[]): CoreReport["goal"] {
  const wanted = rows.filter((r) => r.miniBatch === 10 && (r.sizes[1] === 30 || r.sizes[1] === 100));
  const ratios = wanted.map((r) => ({ config: `${name(r)} m=10`, ratio: r.ratio }));
  if (ratios.length === 0 || ratios.some((r) => r.ratio === null)) return { met: null, ratios };
  return { met: ratios.every((r) => r.ratio! >= 5), ratios };
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
    r.ratio === null ? "–" : `${fixed(r.ratio, 1)}×`,
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
      "PyTorch / core",
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
  const goal = report.goal.ratios.map((r) => `${r.config} ${r.ratio === null ? "not measured" : `${fixed(r.ratio, 1)}×`}`).join(", ");
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
    `Goal (core ≥ 5× faster than PyTorch at m=10 for [784,30,10] and [784,100,10]): ${report.goal.met === null ? "not measured" : report.goal.met ? "met" : "NOT met"} — ${goal}.`,
    "",
    "## Per thread count, and accuracy as a check of the same maths",
    "",
    detailTable(report),
    "",
  ].join("\n");
}
