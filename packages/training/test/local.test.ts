import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createTrainingState, loadMnist, sliceDataset, trainEpoch } from "@mnist/core";
import { trainLocally } from "../src/index.js";
import { initialNetwork, runSpec } from "@mnist/spec";

const mnist = loadMnist();
const sha = (params: Float32Array) => createHash("sha256").update(params).digest("hex");

describe("trainLocally", () => {
  it("trains from the epoch stream bit-identically to the core's own epoch loop", async () => {
    const spec = runSpec({ sizes: [784, 20, 10], epochs: 2, miniBatch: 7, eta: 0.5, lambda: 2, momentum: 0.5, dropout: 0.2, trainLimit: 1500, seed: 42n });
    const result = await trainLocally(spec, { mnist });

    const reference = initialNetwork(spec);
    const state = createTrainingState(reference);
    const data = sliceDataset(mnist.training, 0, 1500);
    for (let epoch = 0; epoch < 2; epoch++) {
      trainEpoch(state, data, { eta: 0.5, miniBatch: 7, seed: 42n, lambda: 2, momentum: 0.5, dropout: 0.2, epoch });
    }
    expect(sha(result.network.params)).toBe(sha(reference.params));
  });

  it("reports the monitored figures per epoch and stops after the fixed number of epochs", async () => {
    const spec = runSpec({ sizes: [784, 30, 10], epochs: 3, trainLimit: 2000, monitor: { trainCost: true, trainAccuracy: true, evalCost: true, evalAccuracy: true } });
    const seen: number[] = [];
    const result = await trainLocally(spec, { mnist, onEpoch: (report) => seen.push(report.epoch) });
    expect(seen).toEqual([0, 1, 2]);
    expect(result.epochs.map((e) => e.decision)).toEqual(["continue", "continue", "stop"]);
    expect(result.stopReason).toBe("completed 3 epochs");
    const last = result.epochs.at(-1)!;
    expect(last.valAccuracy).toBeGreaterThan(0.8);
    expect(last.trainAccuracy).toBeGreaterThan(last.valAccuracy! - 0.05);
    expect(last.trainCost).toBeGreaterThan(0);
    expect(last.valCost).toBeGreaterThan(0);
    expect(last.imagesPerSecond).toBeGreaterThan(0);
  });

  it("halves eta on a plateau and stops once it has fallen to the minimum fraction", async () => {
    // eta so small that nothing improves after the first epoch.
    const spec = runSpec({ sizes: [784, 10, 10], epochs: 100, eta: 1e-9, trainLimit: 500, stopping: { decayAfter: 1, decayFactor: 0.5, minEtaFraction: 1 / 8 } });
    const result = await trainLocally(spec, { mnist });
    expect(result.etaHistory.map((h) => h.eta)).toEqual([1e-9, 5e-10, 2.5e-10]);
    expect(result.stopReason).toBe("learning rate fell to 1/8 of its initial value");
  });

  it("gives the same bits for the same seed with augmentation on", async () => {
    const spec = runSpec({
      sizes: [784, 10, 10],
      epochs: 1,
      trainLimit: 300,
      seed: 7n,
      augment: { rotateProbability: 1, rotateDegrees: 10, elasticProbability: 0.5, elasticAlpha: 34, elasticSigma: 4, expandShifts: true },
    });
    const [a, b] = [await trainLocally(spec, { mnist }), await trainLocally(spec, { mnist })];
    expect(sha(a.network.params)).toBe(sha(b.network.params));
    expect(a.epochs[0]!.imagesPerSecond * a.epochs[0]!.trainSeconds).toBeCloseTo(1500, 6);
  });
});
