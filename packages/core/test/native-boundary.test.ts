import { describe, expect, it } from "vitest";
import { type Case, detached, expectLoadedAddon, nativeBoundary, rejects, seedCases } from "../../../test/harness/native-boundary.js";
import { computeGradient, createNetwork, createTrainingState, dropoutMask, epochOrder, evaluate, forward, predict, trainBatches } from "../src/index.js";
import { native } from "../src/native.js";
import { maxLayerSize, maxParams, maxWeightLayers } from "../src/options.js";

// The raw addon (native/addon.cpp), called directly with what the TypeScript wrapper would never
// pass: wrong types, short buffers, huge counts, out-of-range indices and labels, missing
// arguments. Every call must throw a TypeError or RangeError naming the argument, and the process
// must survive; a call with exactly the sizes it needs must still work. `npm run test:sanitize`
// runs this file against the ASan/UBSan build of the addon.

const { fns, boundary } = nativeBoundary(native);

// sigmoid, cross-entropy, [4, 3, 2]: 4·3 + 3 + 3·2 + 2 = 23 parameters
const layout = () => Int32Array.of(0, 1, 4, 3, 2);
const P = 23;
const spec = { sizes: [4, 3, 2] };
const scratch = (batch: number) => new Float32Array(native.scratchFloats(layout(), batch));
const pixels = (count: number) => Uint8Array.from({ length: count * 4 }, (_, i) => (i * 37) % 256);
const labels = (count: number) => Uint8Array.from({ length: count }, (_, i) => i % 2);
const hyper = (patch: Record<number, number> = {}) => {
  const h = Float64Array.of(0.5, 1, 0, 0, 0, 0, 2, 100); // eta, lambda, l1, dropout, momentum, nesterov, miniBatch, trainSize
  for (const [k, v] of Object.entries(patch)) h[Number(k)] = v;
  return h;
};
const params = () => createNetwork(spec, 7).params.slice();
const shared = <T>(make: (buffer: SharedArrayBuffer) => T, bytes: number): T => make(new SharedArrayBuffer(bytes));

// What every layout argument is checked for.
const layoutCases = (index: number): Case[] => [
  [index, Float64Array.of(0, 1, 4, 3, 2), TypeError, /layout is Float64Array\(5\); allowed: an Int32Array/],
  [index, [0, 1, 4, 3, 2], TypeError, /layout is an Array\(5\); allowed: an Int32Array/],
  [index, "layout", TypeError, /layout is "layout"; allowed: an Int32Array/],
  [index, Int32Array.of(0, 1, 4), RangeError, /layout.length is 3; allowed: 4 to 19/],
  [index, Int32Array.of(0, 1, ...new Array(18).fill(2)), RangeError, /layout.length is 20; allowed: 4 to 19: \[activation, cost, sizes...\] with 2 to 17 layer sizes/],
  [index, Int32Array.of(3, 1, 4, 3, 2), RangeError, /layout\[0\] \(activation\) is 3; allowed: 0 sigmoid, 1 tanh, 2 relu/],
  [index, Int32Array.of(0, -1, 4, 3, 2), RangeError, /layout\[1\] \(cost\) is -1; allowed: 0 quadratic/],
  [index, Int32Array.of(0, 1, 4, 0, 2), RangeError, /layout\[3\] \(sizes\[1\]\) is 0; allowed: an integer from 1 to 65536/],
  [index, Int32Array.of(0, 1, 4, 65537, 2), RangeError, /layout\[3\] \(sizes\[1\]\) is 65537/],
  [index, Int32Array.of(0, 1, 65536, 65536, 2), RangeError, /layout is sizes with 4295163906 parameters; allowed: at most 268435456/],
];
const integerCases = (index: number, field: string, max: number): Case[] => [
  [index, "1", TypeError, new RegExp(`${escape(field)} is "1"; allowed: an integer from`)],
  [index, 1.5, RangeError, new RegExp(`${escape(field)} is 1.5; allowed: an integer from`)],
  [index, Number.NaN, RangeError, new RegExp(`${escape(field)} is NaN`)],
  [index, -1, RangeError, new RegExp(`${escape(field)} is -1`)],
  [index, max + 1, RangeError, new RegExp(`${escape(field)} is ${max + 1}; allowed: an integer from \\d+ to ${max}`)],
];
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("the raw core addon", () => {
  it("is the build MNIST_CORE_ADDON names, when it names one (npm run test:sanitize)", () => {
    expectLoadedAddon(process.env.MNIST_CORE_ADDON, "/packages/core/build/Release/mnist_core.node");
  });

  it("draws the line where options.ts does: layer sizes, layers, parameters", () => {
    expect(native.maxLayers).toBe(maxWeightLayers);
    const sizes = (...n: number[]) => Int32Array.of(0, 1, ...n);
    expect(native.scratchFloats(sizes(maxLayerSize, 1), 1)).toBeGreaterThan(0);
    rejects(() => native.scratchFloats(sizes(maxLayerSize + 1, 1), 1), RangeError, new RegExp(`sizes\\[0\\]\\) is ${maxLayerSize + 1}; allowed: an integer from 1 to ${maxLayerSize}$`));
    expect(native.scratchFloats(sizes(...new Array(maxWeightLayers + 1).fill(1)), 1)).toBeGreaterThan(0);
    rejects(() => native.scratchFloats(sizes(...new Array(maxWeightLayers + 2).fill(1)), 1), RangeError, /layout.length is 20/);
    // [16383, 16383, 1] has exactly 2^28 parameters (16383² + 16383 + 16383 + 1); one more output is too many
    expect(16383 * 16383 + 16383 + 16383 + 1).toBe(maxParams);
    expect(native.scratchFloats(sizes(16383, 16383, 1), 1)).toBeGreaterThan(0);
    const over = 16383 * 16383 + 16383 + 16383 * 2 + 2;
    rejects(() => native.scratchFloats(sizes(16383, 16383, 2), 1), RangeError, new RegExp(`layout is sizes with ${over} parameters; allowed: at most ${maxParams} parameters in all$`));
  });

  boundary("initParams", () => [layout(), new Float32Array(P), 7n, 0], [
    ...layoutCases(0),
    [1, new Float32Array(P - 1), RangeError, /params.length is 22; allowed: at least the layout's parameter count = 23/],
    [1, new Float64Array(P), TypeError, /params is Float64Array\(23\); allowed: a Float32Array/],
    [1, null, TypeError, /params is null/],
    [1, detached(new Float32Array(P)), RangeError, /params.length is 0; allowed: at least the layout's parameter count = 23/],
    ...seedCases(2),
    [3, 2, RangeError, /large is 2; allowed: an integer from 0 to 1/],
  ]);

  it("initParams with good arguments draws what createNetwork draws", () => {
    const out = new Float32Array(P);
    native.initParams(layout(), out, 7n, 0);
    expect(Array.from(out)).toEqual(Array.from(createNetwork(spec, 7).params));
  });

  boundary("scratchFloats", () => [layout(), 2], [...layoutCases(0), ...integerCases(1, "B", 1 << 20), [1, 0, RangeError, /B is 0/]]);

  it("scratchFloats counts x, x_next, act, dropped, mask, z, delta, dinput, grad_w, grad_b and the labels' bytes", () => {
    // B=1: x, x_next 2 × 4 + layer 1 (3 × 3) + layer 2 (2) + z 2 + delta, dinput 2 × 3 + grad_w 12 + grad_b 3 + 1 byte
    expect(native.scratchFloats(layout(), 1)).toBe(43);
    expect(native.scratchFloats(layout(), 8)).toBe(2 * 8 * 4 + 8 * 11 + 8 * 2 + 2 * 8 * 3 + 12 + 3 + 2);
  });

  const trainArgs = (): unknown[] => [layout(), params(), new Float32Array(P), scratch(2), 2, pixels(4), labels(4), 4, hyper(), 1n, 0, 0, null];
  const trainCases: Parameters<typeof boundary>[2] = [
    ...layoutCases(0),
    [1, new Float32Array(P - 1), RangeError, /params.length is 22; allowed: at least the layout's parameter count = 23/],
    [2, new Float32Array(3), RangeError, /velocities.length is 3/],
    [2, new Float64Array(P), TypeError, /velocities is Float64Array\(23\); allowed: a Float32Array/],
    [3, new Float32Array(native.scratchFloats(layout(), 2) - 1), RangeError, /scratch.length is \d+; allowed: at least scratchFloats\(layout, 2\) = \d+/],
    [4, 0, RangeError, /scratchBatch is 0; allowed: an integer from 1 to 1048576/],
    [4, 3, RangeError, /scratch.length is \d+; allowed: at least scratchFloats\(layout, 3\)/],
    [5, pixels(4).subarray(1), RangeError, /inputs.length is 15; allowed: at least count × sizes\[0\] = 4 × 4 = 16/],
    [5, new Int8Array(16), TypeError, /inputs is Int8Array\(16\); allowed: a Uint8Array of pixels or a Float32Array of inputs/],
    [5, new Uint8ClampedArray(16), TypeError, /inputs is Uint8ClampedArray\(16\)/],
    [5, new Float64Array(16), TypeError, /inputs is Float64Array\(16\)/],
    [5, new ArrayBuffer(16), TypeError, /inputs is an ArrayBuffer/],
    [6, labels(3), RangeError, /labels.length is 3; allowed: at least count = 4/],
    [6, Uint8Array.of(0, 1, 2, 0), RangeError, /labels\[2\] is 2; allowed: a class index below 2, the output layer's size/],
    [6, Uint8Array.of(0, 1, 1, 255), RangeError, /labels\[3\] is 255/],
    [6, new Uint32Array(4), TypeError, /labels is Uint32Array\(4\); allowed: a Uint8Array/],
    [6, shared((b) => new Uint8Array(b), 4), TypeError, /labels is Uint8Array\(4\) over a SharedArrayBuffer; allowed: a Uint8Array over an ArrayBuffer/],
    [7, 5, RangeError, /inputs.length is 16; allowed: at least count × sizes\[0\] = 5 × 4 = 20/],
    [7, 2 ** 31 - 1, RangeError, /count is 2147483647; allowed: an integer from 0 to 2147483646/],
    [7, -1, RangeError, /count is -1/],
    [7, 4n, TypeError, /count is 4n/],
    [8, new Float64Array(7), RangeError, /hyper.length is 7; allowed: 8: \[eta, lambda, l1, dropout, momentum, nesterov, miniBatch, trainSize\]/],
    [8, new Float32Array(8), TypeError, /hyper is Float32Array\(8\); allowed: a Float64Array/],
    [8, hyper({ 0: 0 }), RangeError, /hyper\[0\] \(eta\) is 0; allowed: a finite number in \(0, /],
    [8, hyper({ 0: Number.NaN }), RangeError, /hyper\[0\] \(eta\) is NaN/],
    [8, hyper({ 0: 1e39 }), RangeError, /hyper\[0\] \(eta\) is 1e\+39; allowed: a finite number in \(0, 3.4028234663852886e\+38\]/],
    [8, hyper({ 1: -1 }), RangeError, /hyper\[1\] \(lambda\) is -1/],
    [8, hyper({ 2: Number.POSITIVE_INFINITY }), RangeError, /hyper\[2\] \(l1\) is Infinity/],
    [8, hyper({ 3: 1 }), RangeError, /hyper\[3\] \(dropout\) is 1; allowed: a finite number in \[0, 1\)/],
    [8, hyper({ 4: -0.5 }), RangeError, /hyper\[4\] \(momentum\) is -0.5/],
    [8, hyper({ 5: 2 }), RangeError, /hyper\[5\] \(nesterov\) is 2; allowed: an integer from 0 to 1/],
    [8, hyper({ 6: 0 }), RangeError, /hyper\[6\] \(miniBatch\) is 0; allowed: an integer from 1 to 1048576/],
    [8, hyper({ 6: 2 ** 21 }), RangeError, /hyper\[6\] \(miniBatch\) is 2097152/],
    [8, hyper({ 6: 2.5 }), RangeError, /hyper\[6\] \(miniBatch\) is 2.5/],
    [8, hyper({ 6: 3 }), RangeError, /scratchBatch is 2; allowed: at least min\(miniBatch, count\) = min\(3, 4\) = 3, the call's largest mini-batch/],
    [8, hyper({ 7: 0 }), RangeError, /hyper\[7\] \(trainSize\) is 0/],
    ...seedCases(9),
    ...integerCases(10, "epoch", 2 ** 32 - 1),
    ...integerCases(11, "firstBatch", 2 ** 32 - 1),
    [12, Int32Array.of(0, 1, 2, 3), TypeError, /order is Int32Array\(4\); allowed: a Uint32Array/],
    [12, [0, 1, 2, 3], TypeError, /order is an Array\(4\); allowed: a Uint32Array/],
    [12, Uint32Array.of(0, 1, 2), RangeError, /order.length is 3; allowed: at least count = 4/],
    [12, Uint32Array.of(0, 1, 4, 2), RangeError, /order\[2\] is 4; allowed: below 4, the rows of inputs \(inputs.length \/ sizes\[0\]\)/],
    [12, Uint32Array.of(0, 1, 2, 2 ** 32 - 1), RangeError, /order\[3\] is 4294967295/],
    [12, shared((b) => new Uint32Array(b), 16), TypeError, /order is Uint32Array\(4\) over a SharedArrayBuffer/],
  ];
  boundary("trainBatches", trainArgs, trainCases);
  // The same checks, thrown before the work is queued on the thread pool.
  boundary("trainBatchesAsync", trainArgs, trainCases);

  it("trainBatchesAsync, on the thread pool, takes the same steps as trainBatches", async () => {
    const [sync, pooled] = [trainArgs(), trainArgs()];
    expect(fns.trainBatches!(...sync)).toBe(-1);
    await expect(fns.trainBatchesAsync!(...pooled)).resolves.toBe(-1);
    expect(Array.from(pooled[1] as Float32Array)).toEqual(Array.from(sync[1] as Float32Array));
    expect(pooled[1]).not.toEqual(params());
  });

  it("trainBatches rejects before it writes: the parameters are untouched", () => {
    const args = trainArgs();
    const before = (args[1] as Float32Array).slice();
    args[6] = Uint8Array.of(0, 1, 1, 9);
    rejects(() => fns.trainBatches!(...args), RangeError, /labels\[3\] is 9/);
    expect(args[1]).toEqual(before);
  });

  it("trainBatches with an order reads example i from row order[i]: the same steps as gathering first", () => {
    const order = Uint32Array.of(3, 1, 0, 2);
    const [through, gathered] = [trainArgs(), trainArgs()];
    through[12] = order;
    const [x, y] = [pixels(4), labels(4)];
    gathered[5] = Uint8Array.from(Array.from(order).flatMap((row) => Array.from(x.subarray(row * 4, row * 4 + 4))));
    gathered[6] = Uint8Array.from(order, (row) => y[row]!);
    expect(fns.trainBatches!(...through)).toBe(-1);
    expect(fns.trainBatches!(...gathered)).toBe(-1);
    expect(Array.from(through[1] as Float32Array)).toEqual(Array.from(gathered[1] as Float32Array));
    // with an order every row's label is checked, the ones it skips too
    const skipping = trainArgs();
    skipping[7] = 2;
    skipping[12] = Uint32Array.of(0, 1);
    skipping[6] = Uint8Array.of(0, 1, 1, 9);
    rejects(() => fns.trainBatches!(...skipping), RangeError, /labels\[3\] is 9/);
  });

  it("trainBatches with good arguments takes the same steps as the TypeScript trainBatches", () => {
    const args = trainArgs();
    expect(fns.trainBatches!(...args)).toBe(-1);
    const network = { spec: createNetwork(spec, 7).spec, params: params() };
    trainBatches(createTrainingState(network), pixels(4), labels(4), 4, { eta: 0.5, lambda: 1, miniBatch: 2, trainSize: 100, seed: 1 });
    expect(Array.from(args[1] as Float32Array)).toEqual(Array.from(network.params));
    expect(network.params).not.toEqual(params()); // it did train
  });

  const mask = (count: number) => new Float32Array(count * 3).fill(1);
  const gradientArgs = (): unknown[] => [layout(), params(), scratch(3), 3, pixels(3), labels(3), 3, 0.01, 0, mask(3), new Float32Array(P)];
  boundary("computeGradient", gradientArgs, [
    ...layoutCases(0),
    [1, new Float32Array(5), RangeError, /params.length is 5/],
    [2, new Float32Array(native.scratchFloats(layout(), 3) - 1), RangeError, /scratch.length is \d+; allowed: at least scratchFloats\(layout, 3\)/],
    [3, 2 ** 20 + 1, RangeError, /scratchBatch is 1048577/],
    [4, pixels(3).subarray(0, 11), RangeError, /inputs.length is 11; allowed: at least count × sizes\[0\] = 3 × 4 = 12/],
    [5, Uint8Array.of(0, 7, 1), RangeError, /labels\[1\] is 7/],
    [6, 4, RangeError, /count is 4; allowed: an integer from 1 to 3/],
    [6, 0, RangeError, /count is 0; allowed: an integer from 1 to 3/],
    [7, Number.NaN, RangeError, /l2 is NaN/],
    [7, "0", TypeError, /l2 is "0"; allowed: a number/],
    [8, -1, RangeError, /l1 is -1/],
    [9, mask(3).subarray(1), RangeError, /mask.length is 8; allowed: at least count × \(sum of the hidden layers' sizes\) = 3 × 3 = 9/],
    [9, new Float64Array(9), TypeError, /mask is Float64Array\(9\); allowed: null or a Float32Array/],
    [9, [1, 1, 1], TypeError, /mask is an Array\(3\)/],
    [10, new Float32Array(P - 1), RangeError, /grads.length is 22/],
  ]);

  it("computeGradient with good arguments computes what the TypeScript computeGradient does", () => {
    const args = gradientArgs();
    args[7] = 0;
    args[9] = null;
    fns.computeGradient!(...args);
    const expected = computeGradient({ spec: createNetwork(spec, 7).spec, params: params() }, pixels(3), labels(3), 3);
    expect(Array.from(args[10] as Float32Array)).toEqual(Array.from(expected));
    expect(expected.some((g) => g !== 0)).toBe(true);
  });

  const evaluateArgs = (): unknown[] => [layout(), params(), scratch(2), 2, pixels(5), labels(5), 5];
  boundary("evaluate", evaluateArgs, [
    ...layoutCases(0),
    [1, new Float32Array(0), RangeError, /params.length is 0/],
    [2, new Float32Array(1), RangeError, /scratch.length is 1/],
    [4, pixels(5).subarray(0, 19), RangeError, /inputs.length is 19; allowed: at least count × sizes\[0\] = 5 × 4 = 20/],
    [5, Uint8Array.of(0, 1, 0, 1, 2), RangeError, /labels\[4\] is 2; allowed: a class index below 2/],
    [5, labels(4), RangeError, /labels.length is 4/],
    [6, 2 ** 31, RangeError, /count is 2147483648; allowed: an integer from 0 to 2147483646/],
    [6, 6, RangeError, /inputs.length is 20; allowed: at least count × sizes\[0\] = 6 × 4 = 24/],
  ]);

  it("evaluate with good arguments agrees with the TypeScript evaluate", () => {
    const [correct, costSum] = native.evaluate(...(evaluateArgs() as Parameters<typeof native.evaluate>));
    const e = evaluate({ spec: createNetwork(spec, 7).spec, params: params() }, pixels(5), labels(5), 5);
    expect(correct).toBe(e.correct);
    expect(costSum / 5).toBeCloseTo(e.cost, 6);
  });

  const predictArgs = (): unknown[] => [layout(), params(), scratch(2), 2, pixels(5), 5, new Float32Array(10)];
  boundary("predict", predictArgs, [
    ...layoutCases(0),
    [4, new Float32Array(19), RangeError, /inputs.length is 19/],
    [5, 2 ** 31 - 2, RangeError, /inputs.length is 20; allowed: at least count × sizes\[0\] = 2147483646 × 4 = 8589934584/],
    [5, 2 ** 31 - 1, RangeError, /count is 2147483647; allowed: an integer from 0 to 2147483646/],
    [5, 2 ** 40, RangeError, /count is 1099511627776/],
    [6, new Float32Array(9), RangeError, /out.length is 9; allowed: at least count × sizes\[2\] = 5 × 2 = 10/],
    [6, new Uint8Array(10), TypeError, /out is Uint8Array\(10\); allowed: a Float32Array/],
  ]);

  it("predict with good arguments agrees with the TypeScript predict", () => {
    const args = predictArgs();
    fns.predict!(...args);
    expect(Array.from(args[6] as Float32Array)).toEqual(Array.from(predict({ spec: createNetwork(spec, 7).spec, params: params() }, pixels(5), 5)));
  });

  const forwardArgs = (): unknown[] => [layout(), params(), pixels(3), 3, mask(3)];
  boundary("forward", forwardArgs, [
    ...layoutCases(0),
    [1, new Float32Array(22), RangeError, /params.length is 22/],
    [2, pixels(3).subarray(1), RangeError, /inputs.length is 11/],
    [3, 0, RangeError, /count is 0; allowed: an integer from 1 to 1048576/],
    [3, 2 ** 20 + 1, RangeError, /count is 1048577/],
    [4, mask(2), RangeError, /mask.length is 6; allowed: at least count × \(sum of the hidden layers' sizes\) = 3 × 3 = 9/],
    [4, 1, TypeError, /mask is 1; allowed: null or a Float32Array/],
  ]);

  it("forward refuses a pass whose scratch would pass 2^28 floats instead of allocating it", () => {
    // [1, 65536, 1] with 2^20 examples: about 5 × 2^36 floats of scratch
    const wide = Int32Array.of(0, 1, 1, 65536, 1);
    rejects(() => native.forward(wide, new Float32Array(4 * 65536 + 1), new Uint8Array(2 ** 20), 2 ** 20, null), RangeError,
      /^forward: scratchFloats\(layout, count\) is \d+ floats; allowed: at most 268435456 floats \(1 GiB\)/);
  });

  it("forward with good arguments agrees with the TypeScript forward", () => {
    const layers = native.forward(layout(), params(), pixels(3), 3, null);
    const pass = forward({ spec: createNetwork(spec, 7).spec, params: params() }, pixels(3), 3);
    expect(layers.map((l) => Array.from(l))).toEqual([...pass.activations, pass.outputZ].map((l) => Array.from(l)));
  });

  boundary("weightNorms", () => [layout(), params()], [...layoutCases(0), [1, new Float32Array(22), RangeError, /params.length is 22/], [1, undefined, TypeError, /params is undefined/]]);
  boundary("firstNonFinite", () => [layout(), params()], [...layoutCases(0), [1, new Float32Array(1), RangeError, /params.length is 1/], [1, {}, TypeError, /params is an object/]]);

  it("weightNorms and firstNonFinite with good arguments read every weight and only weights", () => {
    const p = params();
    const [sq, ab] = native.weightNorms(layout(), p);
    let sumSq = 0;
    let sumAbs = 0;
    for (const [from, to] of [[0, 12], [15, 21]] as const) {
      // W_0 is params[0..12), W_1 is params[15..21); the biases are left out
      for (let i = from; i < to; i++) {
        sumSq += p[i]! ** 2;
        sumAbs += Math.abs(p[i]!);
      }
    }
    expect(sq).toBeCloseTo(sumSq, 5);
    expect(ab).toBeCloseTo(sumAbs, 5);
    expect(native.firstNonFinite(layout(), p)).toBe(-1);
    p[22] = Number.NaN; // the last bias
    expect(native.firstNonFinite(layout(), p)).toBe(3);
  });

  boundary("epochOrder", () => [3n, 1, 10], [...seedCases(0), ...integerCases(1, "epoch", 2 ** 32 - 1), ...integerCases(2, "n", 2 ** 32 - 1)]);

  it("epochOrder with good arguments is the TypeScript epochOrder", () => {
    expect(Array.from(native.epochOrder(3n, 1, 10))).toEqual(Array.from(epochOrder(3, 1, 10)));
  });

  boundary("dropoutMask", () => [layout(), 0.5, 1n, 2, 3, 4], [
    ...layoutCases(0),
    [1, 1, RangeError, /rate is 1; allowed: a finite number in \[0, 1\)/],
    [1, Number.NaN, RangeError, /rate is NaN/],
    [1, null, TypeError, /rate is null; allowed: a number/],
    ...seedCases(2),
    ...integerCases(3, "epoch", 2 ** 32 - 1),
    ...integerCases(4, "batchIndex", 2 ** 32 - 1),
    ...integerCases(5, "B", 2 ** 20),
    [5, 0, RangeError, /B is 0/],
  ]);

  it("dropoutMask refuses masks of more than 2^28 floats instead of allocating them", () => {
    rejects(() => native.dropoutMask(Int32Array.of(0, 1, 1, 65536, 1), 0.5, 1n, 0, 0, 2 ** 20), RangeError,
      /^dropoutMask: B × \(sum of the hidden layers' sizes\) is 68719476736 floats; allowed: at most 268435456 floats/);
  });

  it("dropoutMask with good arguments is the TypeScript dropoutMask", () => {
    const m = native.dropoutMask(layout(), 0.5, 1n, 2, 3, 4);
    expect(m.length).toBe(12);
    expect(Array.from(m)).toEqual(Array.from(dropoutMask(spec, 0.5, 1, 2, 3, 4)));
    expect(new Set(m)).toEqual(new Set([0, 2]));
  });

  it("trainBatches with nothing to do accepts empty (even detached) buffers", () => {
    const none = new Uint8Array(0);
    const args = trainArgs();
    const before = (args[1] as Float32Array).slice();
    args[5] = detached(new Float32Array(16)); // float inputs, transferred away
    args[6] = none;
    args[7] = 0;
    expect(fns.trainBatches!(...args)).toBe(-1);
    expect(args[1]).toEqual(before);
  });

  boundary("setBlasThreads", () => [native.getBlasThreads()], [...integerCases(0, "threads", 256), [0, 0, RangeError, /threads is 0; allowed: an integer from 1 to 256/]]);

  it("getBlasThreads and blasConfig take no arguments and answer", () => {
    expect(native.getBlasThreads()).toBeGreaterThanOrEqual(1);
    expect(native.blasConfig()).toMatch(/OpenBLAS/);
  });

  boundary("measureSgemmGflops", () => [8, 8, 8, 1, 1], [
    ...integerCases(0, "m", 65536),
    [0, 0, RangeError, /m is 0; allowed: an integer from 1 to 65536/],
    ...integerCases(3, "repeats", 1_000_000),
    ...integerCases(4, "threads", 256),
  ]);

  it("measureSgemmGflops refuses operands of more than 2^26 floats", () => {
    rejects(() => fns.measureSgemmGflops!(65536, 8, 65536, 1, 1), RangeError, /^measureSgemmGflops: m × k is 4294967296 floats; allowed: at most 67108864 floats per operand/);
  });
});
