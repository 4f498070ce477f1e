import { describe, expect, it } from "vitest";
import {
  CoreError,
  createNetwork,
  createTrainingState,
  epochOrder,
  evaluate,
  loadMnist,
  networkFrom,
  predict,
  sliceDataset,
  trainBatches,
  trainBatchesAsync,
  trainEpoch,
  type TrainOptions,
} from "../src/index.js";

const mnist = loadMnist();
const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("the chapter's single neuron (input 1, w = b = 2, target 0, η = 0.15)", () => {
  // Labels are class indices, so a one-output network's target is always 1. The chapter's neuron
  // (w = b = 2, target 0) is its exact mirror image: σ(−z) = 1 − σ(z), so w = b = −2 with
  // target 1 has the same cost at every step, for both costs, and the same learning curve.
  const x = Float32Array.from([1]);
  const y = Uint8Array.from([0]);
  function curve(cost: "quadratic" | "cross-entropy", steps: number): number[] {
    const network = networkFrom({ sizes: [1, 1], cost }, Float32Array.from([-2, -2]));
    const state = createTrainingState(network);
    const costs = [evaluate(network, x, y, 1).cost];
    for (let i = 0; i < steps; i++) {
      trainBatches(state, x, y, 1, { eta: 0.15, miniBatch: 1, trainSize: 1, seed: 0 });
      costs.push(evaluate(network, x, y, 1).cost);
    }
    return costs;
  }

  it("learns slowly at first with the quadratic cost", () => {
    const c = curve("quadratic", 300);
    expect(c[0]).toBeCloseTo(0.5 * (1 / (1 + Math.exp(4))) ** 2 * 0 + 0.5 * (1 - 1 / (1 + Math.exp(4))) ** 2, 5);
    expect(c[100]! / c[0]!).toBeGreaterThan(0.95); // the first 100 steps barely move it
    expect(c[300]! / c[0]!).toBeLessThan(0.1); // then learning kicks in
  });

  it("learns fast from the start with the cross-entropy", () => {
    const c = curve("cross-entropy", 100);
    expect(c[0]).toBeCloseTo(Math.log(1 + Math.exp(4)), 5);
    expect(c[50]! / c[0]!).toBeLessThan(0.05);
  });
});

describe("determinism", () => {
  const data = sliceDataset(mnist.training, 0, 600);
  const options = { eta: 0.5, miniBatch: 10, lambda: 1, dropout: 0.2, momentum: 0.5, seed: 5n, epoch: 0 };

  it("the same seed gives bit-identical weights, a different seed different ones", () => {
    const run = (seed: bigint) => {
      const network = createNetwork({ sizes: [784, 16, 10] }, seed);
      trainEpoch(createTrainingState(network), data, { ...options, seed });
      return network.params;
    };
    expect(bytesOf(run(5n)).equals(bytesOf(run(5n)))).toBe(true);
    expect(bytesOf(run(5n)).equals(bytesOf(run(6n)))).toBe(false);
    expect(bytesOf(createNetwork({ sizes: [4, 3, 2] }, 1).params).equals(bytesOf(createNetwork({ sizes: [4, 3, 2] }, 2).params))).toBe(false);
    // numbers and bigints name the same seed
    expect(bytesOf(createNetwork({ sizes: [4, 3, 2] }, 1).params).equals(bytesOf(createNetwork({ sizes: [4, 3, 2] }, 1n).params))).toBe(true);
  });

  it("initialisation follows N(0, 1/n_in) by default and N(0, 1) when large", () => {
    const spread = (init: "default" | "large") => {
      const { params } = createNetwork({ sizes: [400, 200, 1], init }, 3);
      const w = params.subarray(0, 400 * 200);
      const b = params.subarray(400 * 200, 400 * 200 + 200);
      const sd = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
      return { w: sd(w), b: sd(b) };
    };
    expect(spread("default").w).toBeCloseTo(1 / 20, 2);
    expect(spread("default").b).toBeGreaterThan(0.8);
    expect(spread("large").w).toBeCloseTo(1, 1);
  });

  it("trainEpoch equals trainBatches over the epoch's order, however the epoch is cut", () => {
    const n = 605; // a final mini-batch of 5
    const set = sliceDataset(mnist.training, 0, n);
    const run = (feed: (state: ReturnType<typeof createTrainingState>) => void) => {
      const network = createNetwork({ sizes: [784, 12, 10], activation: "tanh" }, 9n);
      feed(createTrainingState(network));
      return network.params;
    };
    const epochs = [0, 1];
    const byEpoch = (chunk: number) =>
      run((state) => epochs.forEach((epoch) => trainEpoch(state, set, { ...options, nesterov: true, epoch, chunk })));
    const reference = byEpoch(4000);
    expect(bytesOf(byEpoch(30)).equals(bytesOf(reference))).toBe(true);
    expect(bytesOf(byEpoch(137)).equals(bytesOf(reference))).toBe(true); // rounded down to 130

    const bySlices = run((state) => {
      for (const epoch of epochs) {
        const order = epochOrder(options.seed, epoch, n);
        const pixels = new Uint8Array(n * 784);
        const labels = new Uint8Array(n);
        order.forEach((k, i) => {
          pixels.set(set.pixels.subarray(k * 784, (k + 1) * 784), i * 784);
          labels[i] = set.labels[k]!;
        });
        let start = 0;
        let batch = 0;
        for (const size of [50, 10, 300, 240, 5]) {
          const o: TrainOptions = { ...options, nesterov: true, epoch, trainSize: n, firstBatchIndex: batch };
          batch = trainBatches(state, pixels.subarray(start * 784, (start + size) * 784), labels.subarray(start, start + size), size, o).nextBatchIndex;
          start += size;
        }
        expect(start).toBe(n);
      }
    });
    expect(bytesOf(bySlices).equals(bytesOf(reference))).toBe(true);
  });

  it("trains the same bits on the thread pool, two states at once, and refuses a second call on a state in training", async () => {
    const set = sliceDataset(loadMnist().training, 0, 1000);
    const spec = { sizes: [784, 30, 10], activation: "sigmoid" as const, cost: "cross-entropy" as const, init: "default" as const };
    const options: TrainOptions = { eta: 0.5, lambda: 1, momentum: 0.5, miniBatch: 10, trainSize: 1000, seed: 5, epoch: 0 };
    const sync = createTrainingState(createNetwork(spec, 3));
    trainBatches(sync, set.pixels, set.labels, 1000, options);
    const [a, b] = [createTrainingState(createNetwork(spec, 3)), createTrainingState(createNetwork(spec, 3))];
    const both = Promise.all([trainBatchesAsync(a, set.pixels, set.labels, 1000, options), trainBatchesAsync(b, set.pixels, set.labels, 1000, options)]);
    expect(() => trainBatches(a, set.pixels, set.labels, 1000, options)).toThrow(/state is "in training"; allowed: a training state one call trains at a time/);
    expect((await both).map((result) => result.nextBatchIndex)).toEqual([100, 100]);
    expect(Buffer.from(a.network.params.buffer).equals(Buffer.from(sync.network.params.buffer))).toBe(true);
    expect(Buffer.from(b.network.params.buffer).equals(Buffer.from(sync.network.params.buffer))).toBe(true);
    expect(Buffer.from(a.velocities.buffer).equals(Buffer.from(sync.velocities.buffer))).toBe(true);
  });
});

describe("MNIST", () => {
  it("a small network on 2,000 images reaches a sane accuracy", () => {
    const training = sliceDataset(mnist.training, 0, 2000);
    const validation = sliceDataset(mnist.validation, 0, 1000);
    const network = createNetwork({ sizes: [784, 30, 10] }, 1n);
    const state = createTrainingState(network);
    for (let epoch = 0; epoch < 8; epoch++) trainEpoch(state, training, { eta: 0.5, miniBatch: 10, lambda: 0.5, seed: 1n, epoch });
    const result = evaluate(network, validation.pixels, validation.labels, validation.count, { lambda: 0.5 });
    expect(result.count).toBe(1000);
    expect(result.correct).toBe(Math.round(result.accuracy * 1000));
    expect(result.accuracy).toBeGreaterThan(0.85);
    expect(result.cost).toBeGreaterThan(0);
    // predict agrees with evaluate's argmax
    const out = predict(network, validation.pixels, validation.count);
    let correct = 0;
    for (let i = 0; i < validation.count; i++) {
      const row = Array.from(out.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === validation.labels[i]) correct++;
    }
    expect(correct).toBe(result.correct);
  });

  it("the evaluation cost is network2.total_cost: mean cost + 0.5·(λ/count)·Σw²", () => {
    const set = sliceDataset(mnist.test, 0, 50);
    const network = createNetwork({ sizes: [784, 10, 10] }, 4);
    const plain = evaluate(network, set.pixels, set.labels, set.count).cost;
    let sumSquares = 0;
    network.params.forEach((w, i) => {
      if (i < 7840 || (i >= 7850 && i < 7950)) sumSquares += w * w;
    });
    expect(evaluate(network, set.pixels, set.labels, set.count, { lambda: 3 }).cost).toBeCloseTo(plain + 0.5 * (3 / 50) * sumSquares, 6);
  });
});

describe("divergence", () => {
  it("a huge learning rate is reported as DIVERGED naming the parameters", () => {
    const set = sliceDataset(mnist.training, 0, 200);
    const network = createNetwork({ sizes: [784, 20, 10], activation: "relu", cost: "cross-entropy" }, 1);
    const state = createTrainingState(network);
    let error: unknown;
    try {
      for (let epoch = 0; epoch < 5; epoch++) trainEpoch(state, set, { eta: 1e30, miniBatch: 10, seed: 1, epoch });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CoreError);
    expect((error as CoreError).code).toBe("DIVERGED");
    expect((error as CoreError).message).toMatch(/(weights|biases) of layer \d .*NaN or Infinity/);
  });

  it("evaluate refuses non-finite parameters", () => {
    const network = createNetwork({ sizes: [2, 2] }, 1);
    network.params[5] = Number.POSITIVE_INFINITY;
    let error: unknown;
    try {
      evaluate(network, new Uint8Array(2), new Uint8Array(1), 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CoreError);
    expect((error as CoreError).code).toBe("DIVERGED");
    expect((error as CoreError).message).toMatch(/biases of layer 0/);
  });
});
