import { describe, expect, it } from "vitest";
import { augmentBatch, expandedIndex, expandShifts, IMAGE_PIXELS, loadTrainingSet, SliceMaker } from "../src/index.js";
import { augmentSettings, epochSize } from "@mnist/spec";

const training = loadTrainingSet();

/** The expansion written out plainly, as the chapter's expand_mnist.py does it. */
function shifted(image: Uint8Array, shift: string): Uint8Array {
  const out = new Uint8Array(IMAGE_PIXELS);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const [sx, sy] = shift === "up" ? [x, y + 1] : shift === "down" ? [x, y - 1] : shift === "left" ? [x + 1, y] : shift === "right" ? [x - 1, y] : [x, y];
      out[y * 28 + x] = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? image[sy * 28 + sx]! : 0;
    }
  }
  return out;
}

describe("the fixed 1-pixel shift expansion", () => {
  it("turns the 50,000 training images into 250,000: each image then its shifts up, down, left and right", () => {
    expect(training.count).toBe(50_000);
    const spec = augmentSettings({ expandShifts: true });
    expect(epochSize(training.count, spec)).toBe(250_000);
    expect(new SliceMaker(training).size({ seed: 1n, trainLimit: 0, augment: spec })).toBe(250_000);
    const chunk = 10_000;
    const indices = new Uint32Array(chunk);
    const out = new Uint8Array(chunk * IMAGE_PIXELS);
    let checked = 0;
    for (let from = 0; from < 250_000; from += chunk) {
      for (let k = 0; k < chunk; k++) indices[k] = from + k;
      augmentBatch({ images: training.pixels, indices, spec, seed: 1n, epoch: 0, out });
      for (let k = 0; k < chunk; k++) {
        const { image, shift } = expandedIndex(from + k);
        const expected = shifted(training.pixels.subarray(image * IMAGE_PIXELS, (image + 1) * IMAGE_PIXELS), shift);
        const actual = out.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS);
        if (Buffer.compare(Buffer.from(expected), Buffer.from(actual)) !== 0) throw new Error(`expanded image ${from + k} (${image} ${shift}) differs`);
        checked++;
      }
    }
    expect(checked).toBe(250_000);
  });

  it("maps j to image floor(j / 5) and shift j % 5, and keeps labels with their images", () => {
    expect([0, 1, 2, 3, 4, 5, 249_999].map(expandedIndex)).toEqual([
      { image: 0, shift: "none" },
      { image: 0, shift: "up" },
      { image: 0, shift: "down" },
      { image: 0, shift: "left" },
      { image: 0, shift: "right" },
      { image: 1, shift: "none" },
      { image: 49_999, shift: "right" },
    ]);
    const maker = new SliceMaker(training);
    const plan = { seed: 3n, trainLimit: 100, augment: augmentSettings({ expandShifts: true }) };
    expect(maker.size(plan)).toBe(500);
    const slice = maker.makeSync(plan, 0, 0, 500);
    expect(new Set(slice.indices).size).toBe(500);
    slice.indices.forEach((j, k) => expect(slice.labels[k]).toBe(training.labels[Math.floor(j / 5)]));
  });

  it("expands a whole set in one call", () => {
    const images = training.pixels.subarray(0, 3 * IMAGE_PIXELS);
    const expanded = expandShifts(images);
    expect(expanded.length).toBe(15 * IMAGE_PIXELS);
    expect(expanded.subarray(0, IMAGE_PIXELS)).toEqual(images.subarray(0, IMAGE_PIXELS));
    expect(expanded.subarray(6 * IMAGE_PIXELS, 7 * IMAGE_PIXELS)).toEqual(shifted(images.subarray(IMAGE_PIXELS, 2 * IMAGE_PIXELS), "up"));
  });
});
