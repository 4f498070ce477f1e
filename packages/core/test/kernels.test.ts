import { afterEach, describe, expect, it } from "vitest";
import {
  computeGradient,
  createNetwork,
  createTrainingState,
  evaluate,
  forward,
  getBlasThreads,
  loadMnist,
  runtimeInfo,
  setBlasThreads,
  sliceDataset,
  trainBatches,
  trainBatchesAsync,
  trainEpoch,
  type Network,
  type NetworkSpecInput,
} from "../src/index.js";
import { native } from "../src/native.js";
import { testData } from "./reference.js";

// native/gemm.cpp's own small-GEMM kernels against the OpenBLAS path they replace. The family is
// switched through the addon's hidden gemmKernels export (process-wide: vitest runs each test file
// in its own process), and switched back to the CPU's choice after every test.
const kernels = native as typeof native & { gemmKernels(family?: string): string };
const best = kernels.gemmKernels("auto");
const families = (["avx512", "avx2"] as const).filter((f) => f === best || (f === "avx2" && best === "avx512"));

afterEach(() => {
  kernels.gemmKernels("auto");
});

/** Runs fn with the products on one kernel family. */
function withKernels<T>(family: string, fn: () => T): T {
  expect(kernels.gemmKernels(family)).toBe(family);
  try {
    return fn();
  } finally {
    kernels.gemmKernels("auto");
  }
}

/** max |a - b| / max |b|: the parameters as a whole, not each near-zero one on its own. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

const mnist = loadMnist();

describe("kernel family", () => {
  it("is reported by blasConfig and can be forced down, never up", () => {
    expect(["avx512", "avx2", "blas"]).toContain(best);
    expect(runtimeInfo().blasConfig).toMatch(new RegExp(`OpenBLAS.*; kernels: ${best}$`));
    expect(kernels.gemmKernels("blas")).toBe("blas");
    expect(runtimeInfo().blasConfig).toMatch(/; kernels: blas$/);
    if (best !== "avx512") expect(kernels.gemmKernels("avx512")).toBe(best);
    expect(kernels.gemmKernels("auto")).toBe(best);
    expect(() => kernels.gemmKernels("sse")).toThrow(RangeError);
    expect(() => kernels.gemmKernels(3 as never)).toThrow(TypeError);
  });
});

describe.runIf(families.length > 0)("own kernels against OpenBLAS", () => {
  // Odd shapes: layer widths that are no multiple of 16 or 8 (masked tails), batches below and
  // above the kernels' tiles, a last mini-batch smaller than the others.
  const shapes: NetworkSpecInput[] = [
    { sizes: [37, 19, 10] },
    { sizes: [50, 33, 17, 10], activation: "tanh", cost: "log-likelihood" },
    { sizes: [784, 30, 10] },
  ];

  for (const family of families) {
    it(`${family}: forward passes agree with OpenBLAS's for 1 to 23 examples`, () => {
      for (const spec of shapes) {
        const network = createNetwork(spec, 3);
        const n0 = spec.sizes[0]!;
        for (const count of [1, 2, 5, 9, 10, 11, 23]) {
          const { pixels } = testData(count, n0, 10, count);
          const inputs = Float32Array.from(pixels, (p) => p / 255 - 0.3);
          const blas = withKernels("blas", () => forward(network, inputs, count));
          const own = withKernels(family, () => forward(network, inputs, count));
          blas.activations.forEach((layer, l) => expect(relativeError(own.activations[l]!, layer)).toBeLessThan(1e-5));
          expect(relativeError(own.outputZ, blas.outputZ)).toBeLessThan(1e-5);
        }
      }
    });

    it(`${family}: gradients agree with OpenBLAS's`, () => {
      for (const spec of shapes) {
        const network = createNetwork(spec, 4);
        for (const count of [1, 7, 13]) {
          const { pixels, labels } = testData(count, spec.sizes[0]!, 10, 100 + count);
          const options = { lambda: 2, trainSize: 1000 };
          const blas = withKernels("blas", () => computeGradient(network, pixels, labels, count, options));
          const own = withKernels(family, () => computeGradient(network, pixels, labels, count, options));
          expect(relativeError(own, blas)).toBeLessThan(1e-5);
        }
      }
    });

    it(`${family}: 300 mini-batches of [784,30,10] land on OpenBLAS's parameters (every update rule)`, () => {
      const data = sliceDataset(mnist.training, 0, 2995); // 299 mini-batches of 10 and one of 5
      // L1's sgn(w) turns a last-bit difference in a weight at zero into a step of 2·η·l1/n, so
      // its strength is kept small here (measured ~1e-7 to 1e-6 for the others after 300 steps)
      const rules = [{}, { momentum: 0.5 }, { momentum: 0.5, nesterov: true }, { l1: 0.1 }, { dropout: 0.2 }];
      for (const rule of rules) {
        const run = (family: string): Network =>
          withKernels(family, () => {
            const network = createNetwork({ sizes: [784, 30, 10] }, 9);
            const state = createTrainingState(network);
            const o = { eta: 0.5, lambda: 5, miniBatch: 10, seed: 2n, epoch: 0, trainSize: data.count, ...rule };
            trainBatches(state, data.pixels, data.labels, data.count, o);
            return network;
          });
        const blas = run("blas").params;
        const own = run(family).params;
        expect(relativeError(own, blas)).toBeLessThan(1e-4);
      }
    });

    it(`${family}: bit-identical however an epoch is cut into calls, and run after run`, () => {
      const data = sliceDataset(mnist.training, 0, 1000);
      const o = { eta: 0.5, lambda: 5, miniBatch: 10, seed: 2n, epoch: 0, trainSize: 1000 };
      const run = (chunk: number) =>
        withKernels(family, () => {
          const network = createNetwork({ sizes: [784, 100, 10] }, 9);
          trainEpoch(createTrainingState(network), data, { ...o, chunk });
          return Buffer.from(network.params.buffer).toString("base64");
        });
      const whole = run(1000);
      expect(run(30)).toBe(whole);
      expect(run(1000)).toBe(whole);
    });

    it(`${family}: the thread count does not change the bits (products split between two threads)`, async () => {
      // [784,100,10] at m=10 and [784,64,10] at m=37 (m=31 with AVX2): products of 1.6 and 3.1-3.7
      // MFLOP, above the size from which a second thread takes half the rows (and the hidden
      // layer's activation and dropout of those columns); with two threads the helper also converts
      // each next mini-batch's pixels, the last one short (741 examples), in trainEpoch gathered
      // through the epoch's order. Two trainings at once: one holds the helper, the other trains
      // alone; the same bits. With AVX2 the weight update of a wide layer at m >= 32 is OpenBLAS's,
      // whose bits may depend on its thread count (they do on a Sapphire Rapids Xeon: 3 threads
      // against 1), so that case stays below it.
      const data = sliceDataset(mnist.training, 0, 741);
      const wideBatch = family === "avx2" ? 31 : 37;
      for (const [sizes, miniBatch, dropout] of [[[784, 100, 10], 10, 0], [[784, 64, 10], wideBatch, 0.3]] as const) {
        const o = { eta: 0.5, lambda: 5, miniBatch, seed: 2n, epoch: 0, trainSize: data.count, momentum: 0.3, dropout };
        const bits = (network: Network) => Buffer.from(network.params.buffer).toString("base64");
        const withThreads = async <T>(threads: number, fn: () => T | Promise<T>): Promise<T> => {
          kernels.gemmKernels(family);
          const before = getBlasThreads();
          setBlasThreads(threads);
          try {
            return await fn();
          } finally {
            setBlasThreads(before);
            kernels.gemmKernels("auto");
          }
        };
        const run = (threads: number) =>
          withThreads(threads, () => {
            const network = createNetwork({ sizes: [...sizes] }, 9);
            trainBatches(createTrainingState(network), data.pixels, data.labels, data.count, o);
            return bits(network);
          });
        const one = await run(1);
        expect(await run(2)).toBe(one);
        expect(await run(3)).toBe(one);
        // trainEpoch: the helper gathers each next mini-batch through the epoch's order
        const epoch = (threads: number) =>
          withThreads(threads, () => {
            const network = createNetwork({ sizes: [...sizes] }, 9);
            trainEpoch(createTrainingState(network), data, { ...o, chunk: 200 });
            return bits(network);
          });
        expect(await epoch(2)).toBe(await epoch(1));
        const together = await withThreads(2, async () => {
          const networks = [createNetwork({ sizes: [...sizes] }, 9), createNetwork({ sizes: [...sizes] }, 9)];
          await Promise.all(networks.map((network) => trainBatchesAsync(createTrainingState(network), data.pixels, data.labels, data.count, o)));
          return networks.map(bits);
        });
        expect(together).toEqual([one, one]);
      }
    });

    it(`${family}: one epoch of [784,30,10] validates within 0.3 points of OpenBLAS's`, () => {
      const accuracy = (fam: string) =>
        withKernels(fam, () => {
          const network = createNetwork({ sizes: [784, 30, 10] }, 1);
          const { pixels, labels, count } = mnist.training;
          trainEpoch(createTrainingState(network), { pixels, labels, count }, { eta: 0.5, lambda: 5, miniBatch: 10, seed: 1n, epoch: 0 });
          const { validation } = mnist;
          return 100 * evaluate(network, validation.pixels, validation.labels, validation.count).accuracy;
        });
      const blas = accuracy("blas");
      const own = accuracy(family);
      expect(own).toBeGreaterThan(92);
      expect(Math.abs(own - blas)).toBeLessThan(0.3);
    });
  }

  it("a beta of zero never reads the destination: NaN in a reused gradient buffer does not leak", () => {
    const layout = Int32Array.from([0, 1, 20, 9, 10]); // sigmoid, cross-entropy, [20,9,10]
    const network = createNetwork({ sizes: [20, 9, 10] }, 5);
    const { pixels, labels } = testData(4, 20, 10, 8);
    const gradient = (fill: number, family: string) =>
      withKernels(family, () => {
        const grads = new Float32Array(network.params.length).fill(fill);
        const scratch = new Float32Array(native.scratchFloats(layout, 4)).fill(fill);
        native.computeGradient(layout, network.params, scratch, 4, pixels, labels, 4, 0, 0, null, grads);
        return grads;
      });
    for (const family of [...families, "blas"]) {
      const clean = gradient(0, family);
      expect(clean.every(Number.isFinite)).toBe(true);
      expect(gradient(NaN, family)).toEqual(clean);
    }
  });
});
