import { describe, expect, it } from "vitest";
import { InvalidArgument } from "@mnist/errors";
import {
  checkFitsData,
  computeGradient,
  createNetwork,
  createTrainingState,
  dropoutMask,
  epochOrder,
  evaluate,
  getBlasThreads,
  loadMnist,
  predict,
  resolveSpec,
  setBlasThreads,
  trainBatches,
  trainEpoch,
  type TrainOptions,
} from "../src/index.js";

/** Asserts an INVALID_ARGUMENT naming `field` and saying what is allowed (matching `allowed`, when given). */
function rejects(fn: () => unknown, field: string, allowed?: string | RegExp) {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, `expected an InvalidArgument for ${field}`).toBeInstanceOf(InvalidArgument);
  const e = error as InvalidArgument;
  expect(e.code).toBe("INVALID_ARGUMENT");
  expect(e.field).toBe(field);
  expect(e.message.startsWith(`${field} is `)).toBe(true);
  expect(e.message).toMatch(/; allowed: \S/);
  expect(e.message).toMatch(allowed ?? "; allowed: ");
}

describe("network specs", () => {
  const cases: [unknown, string, RegExp?][] = [
    [{ sizes: 784 }, "spec.sizes", /array of 2 to 17/],
    [{ sizes: [784] }, "spec.sizes"],
    [{ sizes: [784, 0, 10] }, "spec.sizes[1]", /integer from 1/],
    [{ sizes: [784, 2.5, 10] }, "spec.sizes[1]"],
    [{ sizes: [784, -3, 10] }, "spec.sizes[1]"],
    [{ sizes: [784, "30", 10] }, "spec.sizes[1]"],
    [{ sizes: [784, 10], activation: "softplus" }, "spec.activation", /"sigmoid" \| "tanh" \| "relu"/],
    [{ sizes: [784, 10], cost: "hinge" }, "spec.cost", /"cross-entropy" \| "quadratic" \| "log-likelihood"/],
    [{ sizes: [784, 10], init: "xavier" }, "spec.init", /"default" \| "large"/],
    [{ sizes: [784, 10], activaton: "tanh" }, "spec.activaton", /no such option/],
    [null, "spec", /an object/],
  ];
  for (const [spec, field, allowed] of cases) {
    it(`rejects ${JSON.stringify(spec)} (${field})`, () => rejects(() => createNetwork(spec as never, 1), field, allowed));
  }

  it("rejects bad seeds", () => {
    rejects(() => createNetwork({ sizes: [2, 2] }, -1), "seed");
    rejects(() => createNetwork({ sizes: [2, 2] }, 1.5), "seed");
    rejects(() => createNetwork({ sizes: [2, 2] }, 1n << 64n), "seed", /2\^64/);
    rejects(() => createNetwork({ sizes: [2, 2] }, "1" as never), "seed");
  });

  it("checks a network against the data's shape on request", () => {
    rejects(() => checkFitsData(resolveSpec({ sizes: [100, 10] })), "sizes[0]", /784/);
    rejects(() => checkFitsData(resolveSpec({ sizes: [784, 30, 9] })), "sizes[2]", /10/);
    expect(() => checkFitsData(resolveSpec({ sizes: [784, 30, 10] }))).not.toThrow();
  });
});

describe("training arguments", () => {
  const network = createNetwork({ sizes: [4, 3, 2] }, 1);
  const state = createTrainingState(network);
  const x = new Uint8Array(4 * 4);
  const y = new Uint8Array(4);
  const good: TrainOptions = { eta: 0.5, miniBatch: 2, trainSize: 100, seed: 1 };
  const before = network.params.slice();
  const option = (patch: Record<string, unknown>, field: string, allowed?: RegExp) =>
    it(`rejects ${JSON.stringify(patch)}`, () => rejects(() => trainBatches(state, x, y, 4, { ...good, ...patch } as TrainOptions), field, allowed));

  option({ eta: 0 }, "options.eta", /\(0, /);
  option({ eta: -1 }, "options.eta");
  option({ eta: Number.NaN }, "options.eta");
  option({ eta: Number.POSITIVE_INFINITY }, "options.eta");
  option({ miniBatch: 0 }, "options.miniBatch");
  option({ miniBatch: 1.5 }, "options.miniBatch");
  option({ lambda: -1 }, "options.lambda");
  option({ l1: -0.1 }, "options.l1");
  option({ dropout: 1 }, "options.dropout", /\[0, 1\)/);
  option({ dropout: -0.1 }, "options.dropout");
  option({ momentum: 1 }, "options.momentum", /\[0, 1\)/);
  option({ momentum: -0.5 }, "options.momentum");
  option({ nesterov: "yes" }, "options.nesterov");
  option({ trainSize: undefined }, "options.trainSize");
  option({ seed: undefined }, "options.seed");
  option({ epoch: -1 }, "options.epoch");
  option({ lamda: 5 }, "options.lamda", /no such option/);
  option({ miniBatch: 3 }, "count", /multiple of miniBatch 3/);

  it("rejects mismatched buffers and labels outside the output layer", () => {
    rejects(() => trainBatches(state, new Uint8Array(15), y, 4, good), "inputs.length", /16 \(count 4 × input size 4\)/);
    rejects(() => trainBatches(state, new Int8Array(16) as never, y, 4, good), "inputs", /Uint8Array/);
    rejects(() => trainBatches(state, Float32Array.from({ length: 16 }, (_, i) => (i === 3 ? Number.NaN : 0)), y, 4, good), "inputs[3]");
    rejects(() => trainBatches(state, x, new Uint8Array(3), 4, good), "labels.length");
    rejects(() => trainBatches(state, x, Uint8Array.from([0, 1, 2, 0]), 4, good), "labels[2]", /below 2/);
    rejects(() => trainBatches(state, x, y, -4, good), "count");
    rejects(() => trainBatches({ network, velocities: new Float32Array(23) }, x, y, 4, good), "state");
    rejects(() => trainBatches(state, x, y, 4, { ...good, trainSize: 3 }), "firstBatchIndex");
    rejects(() => createTrainingState(network, { velocities: new Float32Array(5) }), "options.velocities");
    rejects(() => trainEpoch(state, { pixels: x, labels: y, count: 5 }, good), "data.pixels.length");
    expect(Array.from(network.params)).toEqual(Array.from(before)); // nothing ran
  });

  it("allows a short final mini-batch only where the epoch ends", () => {
    expect(() => trainBatches(state, x.subarray(0, 12), y.subarray(0, 3), 3, { ...good, trainSize: 3 })).not.toThrow();
    expect(() => trainBatches(state, x.subarray(0, 12), y.subarray(0, 3), 3, { ...good, trainSize: 7, firstBatchIndex: 2 })).not.toThrow();
    rejects(() => trainBatches(state, x.subarray(0, 12), y.subarray(0, 3), 3, { ...good, trainSize: 8, firstBatchIndex: 2 }), "count");
  });
});

describe("evaluation, gradient and helper arguments", () => {
  const network = createNetwork({ sizes: [4, 3, 2] }, 1);
  const x = new Uint8Array(8);
  const y = new Uint8Array(2);

  it("rejects bad counts, costs and masks", () => {
    rejects(() => evaluate(network, x, y, 0), "count");
    rejects(() => evaluate(network, x, y, 2, { lambda: -1 }), "options.lambda");
    rejects(() => evaluate(network, x, y, 2, { l2: 1 } as never), "options.l2");
    rejects(() => predict(network, x, 3), "inputs.length");
    rejects(() => evaluate({ spec: network.spec, params: new Float32Array(3) }, x, y, 2), "network.params.length", /23/);
    rejects(() => computeGradient(network, x, y, 2, { lambda: 1 }), "options.trainSize");
    rejects(() => computeGradient(network, x, y, 2, { dropoutMask: new Float32Array(5) }), "dropoutMask.length", /6/);
    rejects(() => dropoutMask({ sizes: [4, 3, 2] }, 1, 1, 0, 0, 2), "rate");
  });

  it("rejects bad orders, thread counts and data options", () => {
    rejects(() => epochOrder(-1, 0, 5), "seed");
    rejects(() => epochOrder(1, 1.5, 5), "epoch");
    rejects(() => epochOrder(1, 0, -5), "n");
    rejects(() => setBlasThreads(0), "threads");
    expect(getBlasThreads()).toBeGreaterThanOrEqual(1);
    rejects(() => loadMnist({ trainLimit: 0 }), "options.trainLimit");
    rejects(() => loadMnist({ trainLimit: 50_001 }), "options.trainLimit");
    rejects(() => loadMnist({ dataDir: 5 as never }), "options.dataDir");
  });
});
