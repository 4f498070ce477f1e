import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidArgument } from "@mnist/errors";
import { augmentBatch, augmentBatchAsync, drawExample, elasticField, expandedIndex, loadTrainingSet, IMAGE_PIXELS } from "../src/index.js";
import { augmentSettings, presets } from "@mnist/spec";

const training = loadTrainingSet();
const images = training.pixels.subarray(0, 2000 * IMAGE_PIXELS);
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const range = (from: number, to: number) => Uint32Array.from({ length: to - from }, (_, k) => from + k);

describe("transform determinism", () => {
  const spec = presets.elastic;

  it("gives each example the same bytes whatever batch it is made in, in whatever order, sync or async", async () => {
    const indices = range(0, 200);
    const whole = augmentBatch({ images, indices, spec, seed: 42n, epoch: 3 });
    const reversed = augmentBatch({ images, indices: indices.slice().reverse(), spec, seed: 42n, epoch: 3 });
    const async = await augmentBatchAsync({ images, indices, spec, seed: 42n, epoch: 3 });
    expect(sha(async)).toBe(sha(whole));
    for (const k of [0, 7, 199]) {
      const alone = augmentBatch({ images, indices: Uint32Array.of(k), spec, seed: 42n, epoch: 3 });
      expect(sha(alone)).toBe(sha(whole.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS)));
      expect(sha(reversed.subarray((199 - k) * IMAGE_PIXELS, (200 - k) * IMAGE_PIXELS))).toBe(sha(alone));
    }
  });

  it("depends on the seed, the epoch and the index", () => {
    const indices = range(0, 50);
    const base = sha(augmentBatch({ images, indices, spec, seed: 42n, epoch: 3 }));
    expect(sha(augmentBatch({ images, indices, spec, seed: 42n, epoch: 3 }))).toBe(base);
    expect(sha(augmentBatch({ images, indices, spec, seed: 43n, epoch: 3 }))).not.toBe(base);
    expect(sha(augmentBatch({ images, indices, spec, seed: 42n, epoch: 4 }))).not.toBe(base);
    const draws = new Set(Array.from({ length: 100 }, (_, i) => drawExample(spec, 42n, 3, i).angleDeg));
    expect(draws.size).toBe(100);
    expect(drawExample(spec, (1n << 64n) - 1n, 0xffff_ffff, 0xffff_ffff).factor).toBeGreaterThan(0);
  });

  it("pins the PRNG layout: every replica and build draws these exact parameters", () => {
    // Pure integer and double arithmetic (no libm): a change here changes every run's data.
    expect(drawExample(presets.elastic, 1n, 0, 0)).toEqual({
      shift: "none", rotate: true, translate: true, skew: true, scale: true, elastic: true,
      angleDeg: -2.9049786301170233, tx: 0.307077593467012, ty: 0.43041008330948527, shear: -0.1718919895930391, factor: 1.0640010427967448,
    });
    expect(drawExample({ ...presets.affine, expandShifts: true, rotateProbability: 0.5 }, 123456789012345678901n % (1n << 64n), 7, 12345)).toEqual({
      shift: "none", rotate: false, translate: true, skew: true, scale: true, elastic: false,
      angleDeg: 0, tx: 0.8726515875915082, ty: -1.0364612572488014, shear: -0.11228865817838281, factor: 1.0434030777526297,
    });
    expect(drawExample(augmentSettings({ expandShifts: true }), 1n, 0, 12_344).shift).toBe("right");
  });

  it("draws every parameter within its range, each transform with its own probability", () => {
    const spec = augmentSettings({ rotateProbability: 0.5, rotateDegrees: 10, translateProbability: 0.25, translatePixels: 3, skewProbability: 1, skew: 0.2, scaleProbability: 0, scale: 0.5 });
    const n = 4000;
    let rotated = 0;
    let translated = 0;
    const unrotatedAngles = new Set<number>();
    for (let i = 0; i < n; i++) {
      const d = drawExample(spec, 9n, 1, i);
      if (d.rotate) rotated++;
      if (d.translate) translated++;
      expect(Math.abs(d.angleDeg)).toBeLessThanOrEqual(10);
      expect(Math.abs(d.tx)).toBeLessThanOrEqual(3);
      expect(Math.abs(d.ty)).toBeLessThanOrEqual(3);
      expect(Math.abs(d.shear)).toBeLessThanOrEqual(0.2);
      expect(d.skew).toBe(true);
      expect(d.scale).toBe(false);
      expect(d.factor).toBe(1);
      expect(d.elastic).toBe(false);
      if (!d.rotate) unrotatedAngles.add(d.angleDeg);
    }
    // The draws left unrotated (about half) all have angle 0.
    expect([...unrotatedAngles]).toEqual([0]);
    expect(rotated / n).toBeGreaterThan(0.46);
    expect(rotated / n).toBeLessThan(0.54);
    expect(translated / n).toBeGreaterThan(0.22);
    expect(translated / n).toBeLessThan(0.28);
  });

  it("keeps one transform's draws when another is switched off (fixed counter slots)", () => {
    const both = augmentSettings({ rotateProbability: 1, rotateDegrees: 20, translateProbability: 1, translatePixels: 2 });
    const rotateOnly = augmentSettings({ rotateProbability: 1, rotateDegrees: 20 });
    for (let i = 0; i < 20; i++) expect(drawExample(rotateOnly, 5n, 2, i).angleDeg).toBe(drawExample(both, 5n, 2, i).angleDeg);
  });

  it("leaves images untouched when nothing is on (plain MNIST)", () => {
    const indices = Uint32Array.of(5, 0, 1999, 17);
    const out = augmentBatch({ images, indices, spec: presets.none, seed: 1n, epoch: 0 });
    indices.forEach((i, k) => expect(out.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS)).toEqual(images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)));
  });

  it("distorts: affine and elastic outputs differ from the originals but keep the digit's ink", () => {
    const indices = range(0, 100);
    for (const spec of [presets.affine, presets.elastic]) {
      const out = augmentBatch({ images, indices, spec, seed: 7n, epoch: 0 });
      let changed = 0;
      for (let k = 0; k < 100; k++) {
        const a = images.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS);
        const b = out.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS);
        if (sha(a) !== sha(b)) changed++;
        const inkA = a.reduce((s, v) => s + v, 0);
        const inkB = b.reduce((s, v) => s + v, 0);
        expect(inkB / inkA).toBeGreaterThan(0.4);
        expect(inkB / inkA).toBeLessThan(2);
      }
      expect(changed).toBe(100);
    }
  });

  it("smooths the elastic field: neighbouring displacements are strongly correlated, of a few pixels", () => {
    const { dx, dy } = elasticField(3n, 0, 11, 34, 4);
    let sum = 0;
    let sq = 0;
    let neighbour = 0;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 27; x++) {
        const v = dx[y * 28 + x]!;
        sum += v;
        sq += v * v;
        neighbour += Math.abs(dx[y * 28 + x + 1]! - v);
      }
    }
    const rms = Math.sqrt(sq / (28 * 27));
    expect(rms).toBeGreaterThan(0.2);
    expect(rms).toBeLessThan(8);
    expect(neighbour / (28 * 27)).toBeLessThan(rms / 2);
    expect(dy).not.toEqual(dx);
    expect(elasticField(3n, 0, 11, 34, 4).dx).toEqual(dx);
  });
});

describe("argument validation", () => {
  const good = { images, indices: Uint32Array.of(0), spec: presets.affine, seed: 1n, epoch: 0 };
  it.each([
    ["seed", { seed: -1n }, "a bigint from 0 to 2^64-1"],
    ["seed", { seed: 1 as unknown as bigint }, "a bigint from 0 to 2^64-1"],
    ["epoch", { epoch: 1.5 }, "an integer from 0 to 4294967295"],
    ["indices[1]", { indices: Uint32Array.of(0, 2000) }, "below 2000"],
    ["indices", { indices: [0] as unknown as Uint32Array }, "a Uint32Array"],
    ["images.length", { images: new Uint8Array(785) }, "a positive multiple of 784"],
    ["out.length", { out: new Uint8Array(10) }, "784"],
    ["spec.rotateProbability", { spec: augmentSettings({ rotateProbability: 2 }) }, "a probability from 0 to 1"],
    ["spec.rotateDegrees", { spec: augmentSettings({ rotateDegrees: Number.NaN }) }, "degrees from 0 to 180"],
    ["spec.elasticSigma", { spec: augmentSettings({ elasticProbability: 1, elasticAlpha: 34 }) }, "greater than 0"],
  ])("names %s", (field, change, allowed) => {
    let caught: unknown;
    try {
      augmentBatch({ ...good, ...change });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidArgument);
    const error = caught as InvalidArgument;
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
    expect(error.message).toContain(allowed);
  });

  it("accepts indices into the expanded set only with expandShifts", () => {
    expect(() => augmentBatch({ ...good, indices: Uint32Array.of(9999) })).toThrow(InvalidArgument);
    expect(augmentBatch({ ...good, indices: Uint32Array.of(9999), spec: augmentSettings({ expandShifts: true }) })).toHaveLength(784);
    expect(expandedIndex(9999)).toEqual({ image: 1999, shift: "right" });
  });
});
