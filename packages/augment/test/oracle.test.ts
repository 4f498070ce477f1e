import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { affineBatch, IMAGE_PIXELS, IMAGE_SIDE, inverseAffineMap, loadTrainingSet } from "../src/index.js";

// sharp's affine() (libvips) as an independent oracle for the rotation and translation
// kernels. libvips maps input pixel u to M u + (odx, ody) and places the bounding box of the
// transformed input (without the offset) at the canvas origin, so output pixel p of the kernels
// sits at canvas pixel p + round(-left, -top) of that box. The canvas is only as large as the
// box, so the digit is first embedded at (PAD, PAD) in a 3x larger black canvas, which keeps
// rotated and translated content on it.
const CENTRE = 13.5;
const PAD = IMAGE_SIDE;
const BIG = IMAGE_SIDE + 2 * PAD;

async function viaSharp(image: Uint8Array, angleDeg: number, tx: number, ty: number): Promise<Uint8Array> {
  const theta = (angleDeg * Math.PI) / 180;
  const m = [Math.cos(theta), -Math.sin(theta), Math.sin(theta), Math.cos(theta)] as const;
  const corners = [[0, 0], [BIG, 0], [0, BIG], [BIG, BIG]].map(([x, y]) => [m[0] * x! + m[1] * y!, m[2] * x! + m[3] * y!]);
  const left = Math.round(-Math.min(...corners.map((c) => c[0]!)));
  const top = Math.round(-Math.min(...corners.map((c) => c[1]!)));
  // The kernels' forward map is p = c + M (u - c) + t. With u' = u + PAD the canvas point of p is
  // M u' + (odx, ody) = p + (kx, ky): whole-pixel offsets chosen to keep p near M u', which lies
  // inside the box.
  const kx = Math.round(m[0] * (CENTRE + PAD) + m[1] * (CENTRE + PAD) - CENTRE);
  const ky = Math.round(m[2] * (CENTRE + PAD) + m[3] * (CENTRE + PAD) - CENTRE);
  const odx = CENTRE - (m[0] * CENTRE + m[1] * CENTRE) + tx - (m[0] * PAD + m[1] * PAD) + kx;
  const ody = CENTRE - (m[2] * CENTRE + m[3] * CENTRE) + ty - (m[2] * PAD + m[3] * PAD) + ky;
  const big = new Uint8Array(BIG * BIG);
  for (let y = 0; y < IMAGE_SIDE; y++) big.set(image.subarray(y * IMAGE_SIDE, (y + 1) * IMAGE_SIDE), (y + PAD) * BIG + PAD);
  const { data, info } = await sharp(big, { raw: { width: BIG, height: BIG, channels: 1 } })
    .affine([...m], { background: "#000000", interpolator: "bilinear", odx, ody })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(IMAGE_PIXELS);
  for (let y = 0; y < IMAGE_SIDE; y++) {
    for (let x = 0; x < IMAGE_SIDE; x++) {
      const cx = x + kx + left;
      const cy = y + ky + top;
      if (cx >= 0 && cy >= 0 && cx < info.width && cy < info.height) out[y * IMAGE_SIDE + x] = data[(cy * info.width + cx) * info.channels]!;
    }
  }
  return out;
}

function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += Math.abs(a[i]! - b[i]!);
  return total / a.length;
}

describe("agreement with sharp's affine() as an oracle", () => {
  const training = loadTrainingSet();
  const cases: { image: number; angleDeg: number; tx: number; ty: number }[] = [];
  let state = 12345;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  for (let image = 0; image < 40; image++) cases.push({ image, angleDeg: 30 * random(), tx: 3 * random(), ty: 3 * random() });
  cases.push({ image: 40, angleDeg: 90, tx: 0, ty: 0 }, { image: 41, angleDeg: 0, tx: 2.5, ty: -1.25 }, { image: 42, angleDeg: -45, tx: 0, ty: 0 });

  it("matches rotation and sub-pixel translation within a mean absolute difference of 0.5 grey levels (of 255) per image", async () => {
    const images = new Uint8Array(cases.length * IMAGE_PIXELS);
    cases.forEach((c, k) => images.set(training.pixels.subarray(c.image * IMAGE_PIXELS, (c.image + 1) * IMAGE_PIXELS), k * IMAGE_PIXELS));
    const ours = affineBatch(images, cases.map((c) => inverseAffineMap({ angleDeg: c.angleDeg, tx: c.tx, ty: c.ty })));
    const differences: number[] = [];
    for (const [k, c] of cases.entries()) {
      const theirs = await viaSharp(images.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS), c.angleDeg, c.tx, c.ty);
      differences.push(meanAbsoluteDifference(ours.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS), theirs));
    }
    // A one-pixel misregistration or a wrong rotation sense gives tens of grey levels.
    expect(Math.max(...differences)).toBeLessThan(0.5);
    expect(differences.reduce((a, b) => a + b, 0) / differences.length).toBeLessThan(0.1);
  });

  it("is far from the oracle when the rotation sense is flipped (the test can fail)", async () => {
    const image = training.pixels.subarray(0, IMAGE_PIXELS);
    const ours = affineBatch(image, [inverseAffineMap({ angleDeg: -20 })]);
    expect(meanAbsoluteDifference(ours, await viaSharp(image, 20, 0, 0))).toBeGreaterThan(10);
  });
});
