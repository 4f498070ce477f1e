import { describe, expect, it } from "vitest";
import { InvalidArgument } from "@mnist/errors";
import { augmentBatch, IMAGE_PIXELS, loadTrainingSet, MAX_PACKED_IMAGE_BYTES, packImages, packSlice, selectPacked, SliceMaker, unpackImages, unpackImagesAsync } from "../src/index.js";
import { presets } from "@mnist/spec";

const training = loadTrainingSet();
const plain = training.pixels.subarray(0, 1000 * IMAGE_PIXELS);
const elastic = augmentBatch({ images: plain, indices: Uint32Array.from({ length: 1000 }, (_, k) => k), spec: presets.elastic, seed: 7n, epoch: 0 });

function roundTrip(pixels: Uint8Array): { bytes: number; same: boolean } {
  const packed = packImages(pixels);
  const out = new Uint8Array(pixels.length);
  const ok = unpackImages(packed.bytes, pixels.length / IMAGE_PIXELS, out, 0);
  return { bytes: packed.bytes.length, same: ok && Buffer.from(out).equals(pixels) };
}

describe("pixel packing for the slice protocol", () => {
  it("round-trips plain, elastic and worst-case images byte for byte, plain MNIST in about a quarter of the bytes", () => {
    const mnist = roundTrip(plain);
    expect(mnist.same).toBe(true);
    expect(mnist.bytes / plain.length).toBeLessThan(0.3);
    expect(roundTrip(elastic).same).toBe(true);
    // Alternating background and ink (the most tokens), all ink (long literal runs), all background.
    const worst = Uint8Array.from({ length: 3 * IMAGE_PIXELS }, (_, i) => (i < IMAGE_PIXELS ? (i % 2) * 200 : i < 2 * IMAGE_PIXELS ? 1 + (i % 255) : 0));
    const packed = packImages(worst);
    expect(packed.ends[0]).toBeLessThanOrEqual(MAX_PACKED_IMAGE_BYTES);
    expect(roundTrip(worst).same).toBe(true);
    expect(Array.from(packed.ends)).toEqual([packed.ends[0], packed.ends[1], packed.bytes.length]);
    expect(roundTrip(new Uint8Array(0))).toEqual({ bytes: 0, same: true });
  });

  it("ends[i] cuts the packed bytes into images that unpack on their own", () => {
    const packed = packImages(plain.subarray(0, 10 * IMAGE_PIXELS));
    const out = new Uint8Array(3 * IMAGE_PIXELS);
    expect(unpackImages(packed.bytes.subarray(packed.ends[3], packed.ends[6]), 3, out, 0)).toBe(true);
    expect(Buffer.from(out).equals(plain.subarray(4 * IMAGE_PIXELS, 7 * IMAGE_PIXELS))).toBe(true);
  });

  it("unpacks at an offset and leaves the skipped images alone", () => {
    const packed = packImages(plain.subarray(0, 4 * IMAGE_PIXELS));
    const out = new Uint8Array(6 * IMAGE_PIXELS).fill(9);
    expect(unpackImages(packed.bytes, 4, out, 2, Uint8Array.of(0, 1, 0, 1))).toBe(true);
    const image = (k: number) => Buffer.from(out.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS));
    for (const k of [0, 1, 3, 5]) expect(image(k).every((b) => b === 9)).toBe(true);
    expect(image(2).equals(plain.subarray(0, IMAGE_PIXELS))).toBe(true);
    expect(image(4).equals(plain.subarray(2 * IMAGE_PIXELS, 3 * IMAGE_PIXELS))).toBe(true);
  });

  it("unpacks on the thread pool the same bytes, from its own copy of the packed bytes", async () => {
    const packed = packImages(plain.subarray(0, 50 * IMAGE_PIXELS));
    const bytes = packed.bytes.slice();
    const out = new Uint8Array(60 * IMAGE_PIXELS).fill(9);
    const skip = new Uint8Array(50);
    skip[7] = 1;
    const done = unpackImagesAsync(bytes, 50, out, 10, skip);
    bytes.fill(255); // the caller's bytes change at once: the pool works on what was checked
    skip[8] = 1;
    await done;
    const expected = new Uint8Array(60 * IMAGE_PIXELS).fill(9);
    expect(unpackImages(packed.bytes, 50, expected, 10, Uint8Array.from({ length: 50 }, (_, k) => (k === 7 ? 1 : 0)))).toBe(true);
    expect(Buffer.from(out).equals(expected)).toBe(true);
    expect(() => unpackImagesAsync(packed.bytes.subarray(1), 50, out, 0)).toThrow(/packed is "\d+ bytes"; allowed: exactly 50 packed images/);
    expect(() => unpackImagesAsync(packed.bytes, 49, out, 0)).toThrow(InvalidArgument);
  });

  it("refuses malformed packing and writes nothing", () => {
    const good = packImages(plain.subarray(0, 2 * IMAGE_PIXELS)).bytes;
    const cases: [string, Uint8Array, number][] = [
      ["truncated", good.subarray(0, good.length - 1), 2],
      ["trailing bytes", Uint8Array.of(...good, 0, 1, 5), 2],
      ["fewer images than counted", good, 3],
      ["more images than counted", good, 1],
      ["an empty token", Uint8Array.of(0, 0, ...good), 2],
      ["a token past the image's end", Uint8Array.of(255, 255, ...new Uint8Array(255).fill(1), 255, 20, ...new Uint8Array(20).fill(1)), 1],
      ["a literal count past the bytes", Uint8Array.of(10, 200, 1, 2, 3), 1],
      ["random bytes", Uint8Array.from({ length: 500 }, (_, i) => (i * 7919 + 13) % 251), 1],
    ];
    for (const [what, bytes, count] of cases) {
      const out = new Uint8Array(3 * IMAGE_PIXELS).fill(9);
      expect(unpackImages(bytes, count, out, 0), what).toBe(false);
      expect(out.every((b) => b === 9), what).toBe(true);
    }
  });

  it("makes packed slices with the same bytes as packing made ones: plain from the packed training set, the others packed as made", async () => {
    const maker = new SliceMaker(training);
    const plans = [
      { seed: 3n, trainLimit: 0, augment: presets.none },
      { seed: 3n, trainLimit: 700, augment: presets.none },
      { seed: 3n, trainLimit: 700, augment: { ...presets.none, expandShifts: true } },
      { seed: 3n, trainLimit: 700, augment: presets.elastic },
    ];
    for (const plan of plans) {
      const packed = await maker.makePacked(plan, 2, 100, 300);
      const made = packSlice(await maker.make(plan, 2, 100, 300));
      expect(Buffer.from(packed.packed.bytes).equals(made.packed.bytes), JSON.stringify(plan.augment)).toBe(true);
      expect(packed.packed.ends).toEqual(made.packed.ends);
      expect(packed.labels).toEqual(made.labels);
      expect(packed.indices).toEqual(made.indices);
    }
    expect(() => selectPacked(packImages(plain.subarray(0, 2 * IMAGE_PIXELS)), Uint32Array.of(0, 2))).toThrow(/indices\[1\] is 2/);
  });

  it("names the bad argument", () => {
    expect(() => packImages(new Uint8Array(783))).toThrow(InvalidArgument);
    expect(() => packImages([1, 2] as unknown as Uint8Array)).toThrow(/pixels/);
    const out = new Uint8Array(2 * IMAGE_PIXELS);
    expect(() => unpackImages(new Uint8Array(4), 3, out, 0)).toThrow(/count is 3/);
    expect(() => unpackImages(new Uint8Array(4), 1, out, 2)).toThrow(/at is 2/);
    expect(() => unpackImages(new Uint8Array(4), 1, new Uint8Array(100), 0)).toThrow(/out/);
    expect(() => unpackImages(new Uint8Array(4), 2, out, 0, new Uint8Array(1))).toThrow(/skip/);
  });
});
