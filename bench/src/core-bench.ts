import {
  createNetwork,
  createTrainingState,
  evaluate,
  getBlasThreads,
  measureSgemmGflops,
  setBlasThreads,
  trainEpoch,
  type Mnist,
} from "@mnist/core";
import { flopsPerExample } from "./flops.js";
import { runTorch, type TorchResult } from "./peers.js";
import { median } from "./stats.js";

/** The settings for every configuration: sigmoid, cross-entropy, λ=5, η=0.5, default init. */
export const coreSettings = { activation: "sigmoid", cost: "cross-entropy", init: "default", eta: 0.5, lambda: 5, seed: 1n } as const;

export interface CoreConfig {
  sizes: number[];
  miniBatch: number;
  /** PyTorch may take ~20 s an epoch here (ANCHORS.md): one timed epoch after 300 warm-up mini-batches. */
  slowPeer?: boolean;
}

export const coreConfigs: CoreConfig[] = [10, 100].flatMap((miniBatch) =>
  [[784, 30, 10], [784, 100, 10], [784, 800, 10]].map((sizes) => ({ sizes, miniBatch, slowPeer: miniBatch === 10 && sizes[1] === 800 })),
);

export interface Effort {
  /** Timed core epochs after one warm-up epoch. */
  coreEpochs: number;
  /** Timed PyTorch epochs (one for slow peers). */
  peerEpochs: number;
  /** PyTorch's untimed warm-up in mini-batches; undefined: one whole epoch, like the core's. */
  peerWarmupBatches?: number;
}

export const fullEffort: Effort = { coreEpochs: 5, peerEpochs: 3 };
export const quickEffort: Effort = { coreEpochs: 2, peerEpochs: 1, peerWarmupBatches: 300 };

/** A slow peer's warm-up: enough mini-batches to settle its allocator and caches, not an epoch. */
const slowPeerWarmupBatches = 300;

export interface CoreTiming {
  threads: number;
  /** Timed epochs only (the warm-up epoch is dropped). */
  epochSeconds: number[];
  medianSeconds: number;
  /** After the warm-up and the timed epochs: a check that training did what it should. */
  valAccuracy: number;
}

/** One network trained for 1 + epochs epochs at a given OpenBLAS thread count, each epoch timed. */
export function timeCore(mnist: Mnist, config: CoreConfig, threads: number, epochs: number): CoreTiming {
  const before = getBlasThreads();
  setBlasThreads(threads);
  try {
    const { activation, cost, init, eta, lambda, seed } = coreSettings;
    const network = createNetwork({ sizes: config.sizes, activation, cost, init }, seed);
    const state = createTrainingState(network);
    const { pixels, labels, count } = mnist.training;
    const seconds: number[] = [];
    for (let epoch = 0; epoch <= epochs; epoch++) {
      const started = performance.now();
      trainEpoch(state, { pixels, labels, count }, { eta, lambda, miniBatch: config.miniBatch, seed, epoch });
      seconds.push((performance.now() - started) / 1000);
    }
    const timed = seconds.slice(1);
    const { validation } = mnist;
    const valAccuracy = evaluate(network, validation.pixels, validation.labels, validation.count).accuracy;
    return { threads, epochSeconds: timed, medianSeconds: median(timed), valAccuracy };
  } finally {
    setBlasThreads(before);
  }
}

export interface PeerTiming extends TorchResult {
  medianSeconds: number;
}

/** PyTorch in its own process: one warm-up (untimed) then the timed epochs. */
export function timePeer(dataDir: string, config: CoreConfig, threads: number, effort: Effort): PeerTiming {
  const wholeEpoch = Math.ceil(50_000 / config.miniBatch);
  const result = runTorch({
    dataDir,
    sizes: config.sizes,
    miniBatch: config.miniBatch,
    eta: coreSettings.eta,
    lambda: coreSettings.lambda,
    epochs: config.slowPeer ? 1 : effort.peerEpochs,
    threads,
    warmupBatches: config.slowPeer ? slowPeerWarmupBatches : (effort.peerWarmupBatches ?? wholeEpoch),
  });
  return { ...result, medianSeconds: median(result.epochSeconds) };
}

export interface SgemmPeak {
  threads: number;
  gflops: number;
}

const peakShape = 1024;

/** Best of three: the ceiling, not the typical rate, so a hiccup must not lower it. */
function bestSgemm(m: number, n: number, k: number, threads: number): number {
  const repeats = Math.max(5, Math.round(2e10 / (2 * m * n * k)));
  return Math.max(...[0, 1, 2].map(() => measureSgemmGflops({ m, n, k, repeats, threads })));
}

export function sgemmPeaks(): SgemmPeak[] {
  return [1, 2].map((threads) => ({ threads, gflops: bestSgemm(peakShape, peakShape, peakShape, threads) }));
}

/** cblas_sgemm at the first layer's forward shape (m × 784 by 784 × hidden), one thread. */
export function sgemmAtShape(config: CoreConfig): number {
  return bestSgemm(config.miniBatch, config.sizes[1]!, config.sizes[0]!, 1);
}

export const sgemmPeakShape = `${peakShape}×${peakShape}×${peakShape}`;

export interface CoreRow {
  sizes: number[];
  miniBatch: number;
  core: CoreTiming;
  core2: CoreTiming | null;
  peers: PeerTiming[];
  /** The faster PyTorch thread count, by median epoch time. */
  bestPeer: PeerTiming | null;
  /** PyTorch at its best thread count / the core at its best (1 or 2): each side at its best. */
  ratio: number | null;
  /** The core's faster thread count and its seconds per epoch. */
  bestCore: { threads: number; seconds: number };
  flopsPerExample: number;
  coreGflops: number;
  sgemmShapeGflops: number;
}

export interface CoreBenchOptions {
  mnist: Mnist;
  dataDir: string;
  configs: CoreConfig[];
  effort: Effort;
  torch: boolean;
  coreTwoThreads: boolean;
  log: (line: string) => void;
}

/** Everything measured in one process, one configuration after another, nothing in parallel. */
export function runCoreBench(o: CoreBenchOptions): { peaks: SgemmPeak[]; rows: CoreRow[] } {
  o.log("cblas_sgemm peak …");
  const peaks = sgemmPeaks();
  const rows: CoreRow[] = [];
  for (const config of o.configs) {
    const name = `[${config.sizes.join(",")}] m=${config.miniBatch}`;
    o.log(`${name}: core …`);
    const core = timeCore(o.mnist, config, 1, o.effort.coreEpochs);
    const core2 = o.coreTwoThreads ? timeCore(o.mnist, config, 2, o.effort.coreEpochs) : null;
    const peers: PeerTiming[] = [];
    if (o.torch) {
      for (const threads of [1, 2]) {
        o.log(`${name}: PyTorch, ${threads} thread(s) …`);
        peers.push(timePeer(o.dataDir, config, threads, o.effort));
      }
    }
    const bestPeer = peers.length ? peers.reduce((a, b) => (b.medianSeconds < a.medianSeconds ? b : a)) : null;
    const flops = flopsPerExample(config.sizes);
    const bestCore = core2 && core2.medianSeconds < core.medianSeconds ? { threads: 2, seconds: core2.medianSeconds } : { threads: 1, seconds: core.medianSeconds };
    rows.push({
      sizes: config.sizes,
      miniBatch: config.miniBatch,
      core,
      core2,
      peers,
      bestPeer,
      ratio: bestPeer ? bestPeer.medianSeconds / bestCore.seconds : null,
      bestCore,
      flopsPerExample: flops,
      coreGflops: (flops * o.mnist.training.count) / core.medianSeconds / 1e9,
      sgemmShapeGflops: sgemmAtShape(config),
    });
  }
  return { peaks, rows };
}
