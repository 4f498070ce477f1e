import { describe, expect, it } from "vitest";
import {
  activations,
  computeGradient,
  costs,
  createNetwork,
  createTrainingState,
  dropoutMask,
  forward,
  predict,
  trainBatches,
  type Network,
  type NetworkSpecInput,
} from "../src/index.js";
import { refCost, refOutputs, testData, type RefOptions } from "./reference.js";

const count = 7;
const { pixels, labels } = testData(count, 5, 3, 42);

/** Central differences of the double-precision reference cost at the network's float32 params. */
function finiteDifferences(network: Network, options: RefOptions): Float64Array {
  const p = Float64Array.from(network.params);
  const fd = new Float64Array(p.length);
  const eps = 1e-6;
  for (let i = 0; i < p.length; i++) {
    const keep = p[i]!;
    p[i] = keep + eps;
    const up = refCost(network.spec, p, pixels, labels, count, options);
    p[i] = keep - eps;
    const down = refCost(network.spec, p, pixels, labels, count, options);
    p[i] = keep;
    fd[i] = (up - down) / (2 * eps);
  }
  return fd;
}

function expectClose(actual: Float32Array, expected: Float64Array) {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!) / (1e-4 + Math.abs(expected[i]!));
    worst = Math.max(worst, err);
  }
  expect(worst).toBeLessThan(2e-3);
}

describe("backpropagation against finite differences", () => {
  for (const cost of costs) {
    for (const activation of activations) {
      it(`${cost} cost, ${activation} hidden layers`, () => {
        const network = createNetwork({ sizes: [5, 4, 3, 3], activation, cost }, 7);
        // the native forward agrees with the reference forward
        const out = predict(network, pixels, count);
        refOutputs(network.spec, network.params, pixels, count)
          .flat()
          .forEach((v, i) => expect(out[i]).toBeCloseTo(v, 5));
        const grads = computeGradient(network, pixels, labels, count);
        expectClose(grads, finiteDifferences(network, {}));
      });
    }
  }

  it("with L2 regularisation (λ/n)·w on weights only", () => {
    const network = createNetwork({ sizes: [5, 4, 3] }, 3);
    const options = { lambda: 5, trainSize: 50 };
    expectClose(computeGradient(network, pixels, labels, count, options), finiteDifferences(network, options));
  });

  it("with L1 regularisation (λ/n)·sgn(w), combined with L2", () => {
    const network = createNetwork({ sizes: [5, 4, 3], activation: "tanh", cost: "log-likelihood" }, 4);
    const options = { l1: 3, lambda: 1, trainSize: 20 };
    expectClose(computeGradient(network, pixels, labels, count, options), finiteDifferences(network, options));
  });

  it("through a fixed dropout mask", () => {
    const spec: NetworkSpecInput = { sizes: [5, 4, 6, 3], activation: "relu" };
    const network = createNetwork(spec, 5);
    const mask = dropoutMask(spec, 0.5, 9n, 0, 0, count);
    expect(mask.length).toBe(count * (4 + 6));
    expect(new Set(mask)).toEqual(new Set([0, 2]));
    const options = { dropoutMask: mask };
    const grads = computeGradient(network, pixels, labels, count, options);
    expectClose(grads, finiteDifferences(network, options));
    // and the mask really changed the gradient
    expect(Array.from(grads)).not.toEqual(Array.from(computeGradient(network, pixels, labels, count)));
  });

  it("softmax outputs sum to 1", () => {
    const network = createNetwork({ sizes: [5, 6, 4], cost: "log-likelihood", init: "large" }, 11);
    const out = predict(network, pixels, count);
    for (let i = 0; i < count; i++) {
      const row = out.subarray(i * 4, i * 4 + 4);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      row.forEach((v) => expect(v).toBeGreaterThan(0));
    }
    const pass = forward(network, pixels, count);
    expect(pass.activations.map((a) => a.length)).toEqual([count * 6, count * 4]);
    expect(pass.outputZ.length).toBe(count * 4);
  });
});

describe("one update step equals its formula", () => {
  const sizes = [5, 4, 3];
  const eta = 0.3, mu = 0.7, trainSize = 40;
  const regularisation = [
    { lambda: 0, l1: 0 },
    { lambda: 2, l1: 0 }, // plain SGD folds this decay into sgemm's beta
    { lambda: 0, l1: 0.5 },
    { lambda: 2, l1: 0.5 },
  ];
  for (const { lambda, l1 } of regularisation) {
    const setup = () => {
      const network = createNetwork({ sizes }, 21);
      const state = createTrainingState(network);
      state.velocities.forEach((_, i) => (state.velocities[i] = Math.sin(i) * 0.1));
      const g = computeGradient(network, pixels, labels, count, { lambda, l1, trainSize });
      return { network, state, g, w0: network.params.slice(), v0: state.velocities.slice() };
    };
    const step = { eta, miniBatch: count, trainSize, lambda, l1, seed: 1 };
    const tag = `λ=${lambda}, l1=${l1}`;

    it(`plain SGD: w ← w − η∇C (${tag})`, () => {
      const { network, state, g, w0 } = setup();
      trainBatches(state, pixels, labels, count, step);
      w0.forEach((w, i) => expect(network.params[i]).toBeCloseTo(w - eta * g[i]!, 6));
    });

    it(`momentum: v ← μv − η∇C, w ← w + v (${tag})`, () => {
      const { network, state, g, w0, v0 } = setup();
      trainBatches(state, pixels, labels, count, { ...step, momentum: mu });
      w0.forEach((w, i) => {
        const v = mu * v0[i]! - eta * g[i]!;
        expect(state.velocities[i]).toBeCloseTo(v, 6);
        expect(network.params[i]).toBeCloseTo(w + v, 6);
      });
    });

    it(`Nesterov: v ← μv − η∇C, w ← w + μv − η∇C at the look-ahead point (${tag})`, () => {
      const { network, state, g, w0, v0 } = setup();
      trainBatches(state, pixels, labels, count, { ...step, momentum: mu, nesterov: true });
      w0.forEach((w, i) => {
        const v = mu * v0[i]! - eta * g[i]!;
        expect(state.velocities[i]).toBeCloseTo(v, 6);
        expect(network.params[i]).toBeCloseTo(w + mu * v - eta * g[i]!, 6);
      });
    });
  }

  it("wide layers, whose products are cut into row blocks at small mini-batches, compute the same step", () => {
    // [784,200,10] at mini-batch 10 takes the blocked path; the same 10 examples repeated 10 times
    // have the same mean gradient but a mini-batch of 100, which takes the unblocked path.
    const { pixels: x, labels: y } = testData(10, 784, 10, 5);
    const x10 = new Uint8Array(100 * 784);
    const y10 = new Uint8Array(100);
    for (let r = 0; r < 10; r++) {
      x10.set(x, r * 7840);
      y10.set(y, r * 10);
    }
    const network = createNetwork({ sizes: [784, 200, 10] }, 6);
    const g = computeGradient(network, x10, y10, 100, { lambda: 1, trainSize: 1000 });
    const gBlocked = computeGradient(network, x, y, 10, { lambda: 1, trainSize: 1000 });
    const worst = (a: Float32Array, b: ArrayLike<number>) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    expect(worst(gBlocked, g)).toBeLessThan(5e-6);
    const pass = forward(network, x, 10);
    predict(network, x10, 100)
      .subarray(0, 100)
      .forEach((v, i) => expect(pass.activations[1]![i]).toBeCloseTo(v, 6));
    const w0 = network.params.slice();
    trainBatches(createTrainingState(network), x, y, 10, { eta: 0.5, miniBatch: 10, trainSize: 1000, lambda: 1, seed: 1 });
    expect(worst(network.params, w0.map((w, i) => w - 0.5 * g[i]!))).toBeLessThan(5e-6);
  });

  it("dropout in training uses dropoutMask(seed, epoch, mini-batch index)", () => {
    const spec = { sizes: [5, 8, 3] };
    const network = createNetwork(spec, 2);
    const state = createTrainingState(network);
    const w0 = network.params.slice();
    const options = { eta, miniBatch: count, trainSize: 10 * count, seed: 77n, dropout: 0.3, epoch: 4, firstBatchIndex: 6 };
    const mask = dropoutMask(spec, 0.3, 77n, 4, 6, count);
    const g = computeGradient(network, pixels, labels, count, { dropoutMask: mask });
    trainBatches(state, pixels, labels, count, options);
    w0.forEach((w, i) => expect(network.params[i]).toBeCloseTo(w - eta * g[i]!, 6));
  });
});
