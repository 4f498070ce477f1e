import { describe, expect, it } from "vitest";
import { type Case, detached, expectLoadedAddon, nativeBoundary, rejects, seedCases } from "../../../test/harness/native-boundary.js";
import { affineBatch, augmentBatch, drawExample, elasticField } from "../src/index.js";
import { presets, type AugmentSettings } from "@mnist/spec";
import { native } from "../src/native.js";
import { paramVector } from "../src/kernels.js";

// The raw augmentation addon (native/addon.cpp), called directly with what kernels.ts would never
// pass: wrong types, short buffers, huge counts, out-of-range indices, parameters outside their
// ranges, non-finite maps, missing arguments. Every call must throw a TypeError or RangeError
// naming the argument, and the process must survive; a call with exactly the sizes it needs must
// still work. `npm run test:sanitize` runs this file against the ASan/UBSan build of the addon.

const { boundary } = nativeBoundary(native);

const PIXELS = 784;
const images = (n: number) => Uint8Array.from({ length: n * PIXELS }, (_, i) => (i * 131 + (i >> 5)) % 256);
const params = (spec: AugmentSettings = presets.elastic, patch: Record<number, number> = {}) => {
  const p = paramVector(spec);
  for (const [k, v] of Object.entries(patch)) p[Number(k)] = v;
  return p;
};

const uint32Cases = (index: number, field: string): Case[] => [
  [index, "0", TypeError, new RegExp(`${field} is "0"; allowed: an integer from 0 to 4294967295`)],
  [index, -1, RangeError, new RegExp(`${field} is -1; allowed: an integer from 0 to 4294967295`)],
  [index, 0.5, RangeError, new RegExp(`${field} is 0.5`)],
  [index, Number.NaN, RangeError, new RegExp(`${field} is NaN`)],
  [index, 2 ** 32, RangeError, new RegExp(`${field} is 4294967296`)],
];
// Values the kernels cannot take: NaN angles, a scale of 1 (a factor of 0), sigma 0 with the
// elastic distortion on, and so on; each named by its slot in the vector.
const paramsCases = (index: number): Case[] => [
  [index, new Float32Array(12), TypeError, /params is Float32Array\(12\); allowed: a Float64Array/],
  [index, new Float64Array(11), RangeError, /params.length is 11; allowed: 12: \[rotateP, rotateDegrees/],
  [index, new Float64Array(13), RangeError, /params.length is 13/],
  [index, params(presets.elastic, { 0: 1.5 }), RangeError, /params\[0\] \(rotate probability\) is 1.5; allowed: a probability: a finite number in \[0, 1\]/],
  [index, params(presets.elastic, { 1: Number.NaN }), RangeError, /params\[1\] \(rotate degrees\) is NaN; allowed: degrees: a finite number in \[0, 180\]/],
  [index, params(presets.elastic, { 2: -0.1 }), RangeError, /params\[2\] \(translate probability\) is -0.1/],
  [index, params(presets.elastic, { 3: 1e300 }), RangeError, /params\[3\] \(translate pixels\) is 1e\+300; allowed: pixels: a finite number in \[0, 14\]/],
  [index, params(presets.elastic, { 5: Number.POSITIVE_INFINITY }), RangeError, /params\[5\] \(skew\) is Infinity/],
  [index, params(presets.elastic, { 7: 1 }), RangeError, /params\[7\] \(scale\) is 1; allowed: a fraction: a finite number in \[0, 0.9\]/],
  [index, params(presets.elastic, { 9: 201 }), RangeError, /params\[9\] \(elastic alpha\) is 201/],
  [index, params(presets.elastic, { 10: 31 }), RangeError, /params\[10\] \(elastic sigma\) is 31/],
  [index, params(presets.elastic, { 10: 0 }), RangeError, /params\[10\] \(elastic sigma\) is 0; allowed: greater than 0 when elastic distortion is on/],
  [index, params(presets.elastic, { 11: 0.5 }), RangeError, /params\[11\] \(expandShifts\) is 0.5; allowed: 0 or 1/],
];

describe("the raw augment addon", () => {
  it("is the build MNIST_AUGMENT_ADDON names, when it names one (npm run test:sanitize)", () => {
    expectLoadedAddon(process.env.MNIST_AUGMENT_ADDON, "/packages/augment/build/Release/mnist_augment.node");
  });

  it("exports paramCount = 12", () => {
    expect(native.paramCount).toBe(12);
  });

  const batchCases: Case[] = [
    [0, new Int8Array(3 * PIXELS), TypeError, /src is Int8Array\(2352\); allowed: a Uint8Array/],
    [0, new Uint8ClampedArray(3 * PIXELS), TypeError, /src is Uint8ClampedArray\(2352\)/],
    [0, images(3).subarray(1), RangeError, /src.length is 2351; allowed: a multiple of 784 \(28×28 uint8 images\)/],
    [0, images(2), RangeError, /indices\[1\] is 2; allowed: below 2, the number of source images \(src holds 2 images\)/],
    [0, new Uint8Array(0), RangeError, /indices\[0\] is 0; allowed: below 0/],
    [1, Int32Array.of(0, 2, 1), TypeError, /indices is Int32Array\(3\); allowed: a Uint32Array/],
    [1, Uint32Array.of(0, 3, 1), RangeError, /indices\[1\] is 3; allowed: below 3, the number of source images/],
    [1, Uint32Array.of(0, 1, 2 ** 32 - 1), RangeError, /indices\[2\] is 4294967295/],
    [1, new Uint32Array(new SharedArrayBuffer(12)), TypeError, /indices is Uint32Array\(3\) over a SharedArrayBuffer; allowed: a Uint32Array over an ArrayBuffer/],
    [1, new Uint32Array(1 << 20), RangeError, /out.length is 2352; allowed: at least indices.length × 784 = 1048576 × 784 = 822083584/],
    ...paramsCases(2),
    ...seedCases(3),
    ...uint32Cases(4, "epoch"),
    [5, new Uint8Array(3 * PIXELS - 1), RangeError, /out.length is 2351; allowed: at least indices.length × 784 = 3 × 784 = 2352/],
    [5, new Float32Array(3 * PIXELS), TypeError, /out is Float32Array\(2352\); allowed: a Uint8Array/],
    [5, null, TypeError, /out is null/],
    [5, detached(new Uint8Array(3 * PIXELS)), RangeError, /out.length is 0; allowed: at least indices.length × 784 = 3 × 784 = 2352/],
  ];
  const batchArgs = (): unknown[] => [images(3), Uint32Array.of(0, 2, 1), params(), 5n, 2, new Uint8Array(3 * PIXELS)];
  boundary("augmentBatch", batchArgs, batchCases);
  boundary("augmentBatchAsync", batchArgs, batchCases);

  it("augmentBatch with good arguments makes what the TypeScript augmentBatch makes; async the same", async () => {
    const out = new Uint8Array(3 * PIXELS);
    native.augmentBatch(images(3), Uint32Array.of(0, 2, 1), params(), 5n, 2, out);
    const expected = augmentBatch({ images: images(3), indices: Uint32Array.of(0, 2, 1), spec: presets.elastic, seed: 5n, epoch: 2 });
    expect(out).toEqual(expected);
    const async = new Uint8Array(3 * PIXELS);
    await native.augmentBatchAsync(images(3), Uint32Array.of(0, 2, 1), params(), 5n, 2, async);
    expect(async).toEqual(expected);
  });

  it("checks indices against the expanded set (5 × images) when the vector says expandShifts", () => {
    const expand = params({ ...presets.none, expandShifts: true });
    const out = new Uint8Array(2 * PIXELS);
    native.augmentBatch(images(3), Uint32Array.of(14, 5), expand, 0n, 0, out); // image 2 shifted right, image 1 unshifted
    expect(out.subarray(PIXELS)).toEqual(images(3).subarray(PIXELS, 2 * PIXELS));
    rejects(() => native.augmentBatch(images(3), Uint32Array.of(14, 15), expand, 0n, 0, out), RangeError,
      /^augmentBatch: indices\[1\] is 15; allowed: below 15, the expanded training set's size \(5 × images\) \(src holds 3 images\)/);
  });

  it("augmentBatch rejects before it writes: out is untouched", () => {
    const out = new Uint8Array(3 * PIXELS).fill(7);
    rejects(() => native.augmentBatch(images(3), Uint32Array.of(0, 1, 3), params(), 5n, 2, out), RangeError, /indices\[2\] is 3/);
    expect(out.every((v) => v === 7)).toBe(true);
  });

  it("augmentBatchAsync works on the indices as they were when it was called", async () => {
    const indices = Uint32Array.of(0, 2, 1);
    const out = new Uint8Array(3 * PIXELS);
    const done = native.augmentBatchAsync(images(3), indices, params(), 5n, 2, out);
    indices.fill(0xffff_fff0); // far outside src: would be read out of bounds if the worker used the caller's array
    await done;
    expect(out).toEqual(augmentBatch({ images: images(3), indices: Uint32Array.of(0, 2, 1), spec: presets.elastic, seed: 5n, epoch: 2 }));
  });

  const identity = [1, 0, 0, 1, 0, 0];
  const affineArgs = (): unknown[] => [images(2), Float64Array.from([...identity, ...identity]), new Uint8Array(2 * PIXELS)];
  const maps = (k: number, value: number) => {
    const m = Float64Array.from([...identity, ...identity]);
    m[k] = value;
    return m;
  };
  boundary("affineBatch", affineArgs, [
    [0, new Float64Array(PIXELS), TypeError, /src is Float64Array\(784\); allowed: a Uint8Array/],
    [0, images(2).subarray(0, 1000), RangeError, /src.length is 1000; allowed: a multiple of 784/],
    [0, images(3), RangeError, /maps.length is 12; allowed: at least images × 6 = 3 × 6 = 18/],
    [1, new Float64Array(11), RangeError, /maps.length is 11; allowed: at least images × 6 = 2 × 6 = 12/],
    [1, new Float32Array(12), TypeError, /maps is Float32Array\(12\); allowed: a Float64Array/],
    [1, [...identity, ...identity], TypeError, /maps is an Array\(12\)/],
    [1, new Float64Array(new SharedArrayBuffer(96)), TypeError, /maps is Float64Array\(12\) over a SharedArrayBuffer/],
    [1, maps(7, Number.NaN), RangeError, /maps\[7\] \(map 1, entry 1\) is NaN; allowed: a finite number within ±1e6/],
    [1, maps(0, Number.NEGATIVE_INFINITY), RangeError, /maps\[0\] \(map 0, entry 0\) is -Infinity/],
    [1, maps(11, 1000001), RangeError, /maps\[11\] \(map 1, entry 5\) is 1000001/],
    [2, new Uint8Array(2 * PIXELS - 1), RangeError, /out.length is 1567; allowed: at least images × 784 = 2 × 784 = 1568/],
    [2, "out", TypeError, /out is "out"; allowed: a Uint8Array/],
  ]);

  it("affineBatch with good arguments resamples: identity maps copy, ±1e6 (the bound) is accepted", () => {
    const out = new Uint8Array(2 * PIXELS);
    native.affineBatch(images(2), Float64Array.from([...identity, ...identity]), out);
    expect(out).toEqual(images(2));
    expect(out).toEqual(affineBatch(images(2), [identity, identity] as never));
    native.affineBatch(images(2), new Float64Array(12).fill(1e6), out);
    native.affineBatch(images(2), new Float64Array(12).fill(-1e6), out);
  });

  it("augmentBatch and affineBatch with nothing to do accept empty buffers", async () => {
    const none = new Uint8Array(0);
    expect(() => native.augmentBatch(none, new Uint32Array(0), params(), 0n, 0, none)).not.toThrow();
    await native.augmentBatchAsync(none, new Uint32Array(0), params(), 0n, 0, none);
    expect(() => native.affineBatch(none, new Float64Array(0), none)).not.toThrow();
  });

  boundary("drawExample", () => [params(), 1n, 0, 0], [...paramsCases(0), ...seedCases(1), ...uint32Cases(2, "epoch"), ...uint32Cases(3, "index")]);

  it("drawExample with good arguments draws what the TypeScript drawExample draws", () => {
    const d = native.drawExample(params(), 1n, 3, 17);
    const expected = drawExample(presets.elastic, 1n, 3, 17);
    expect(Array.from(d.subarray(6))).toEqual([expected.angleDeg, expected.tx, expected.ty, expected.shear, expected.factor]);
  });

  boundary("elasticField", () => [1n, 0, 0, 34, 4], [
    ...seedCases(0),
    ...uint32Cases(1, "epoch"),
    ...uint32Cases(2, "index"),
    [3, -1, RangeError, /alpha is -1; allowed: a displacement scale: a finite number in \[0, 200\]/],
    [3, 201, RangeError, /alpha is 201/],
    [3, Number.NaN, RangeError, /alpha is NaN/],
    [3, "34", TypeError, /alpha is "34"; allowed: a number/],
    [4, 0, RangeError, /sigma is 0; allowed: a smoothing sigma: a finite number in \(0, 30\]/],
    [4, 1e9, RangeError, /sigma is 1000000000/],
    [4, Number.POSITIVE_INFINITY, RangeError, /sigma is Infinity/],
  ]);

  it("elasticField with good arguments is the TypeScript elasticField, at sigma's bound too", () => {
    const field = native.elasticField(1n, 2, 3, 34, 4);
    const { dx, dy } = elasticField(1n, 2, 3, 34, 4);
    expect(field.subarray(0, PIXELS)).toEqual(dx);
    expect(field.subarray(PIXELS)).toEqual(dy);
    expect(native.elasticField(1n, 2, 3, 200, 30).length).toBe(2 * PIXELS);
  });
});
