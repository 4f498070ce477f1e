import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { loadMnist } from "@mnist/core";
import { DIGIT_PIXELS, DigitImageError, digitFromImage } from "../src/digit.js";

const dir = mkdtempSync(join(tmpdir(), "mnistctl-digit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Hand-drawn strokes, large and well away from the centre of their canvas.
const seven = { width: 320, height: 220, body: `<path d="M 178 38 L 272 38 L 214 184" stroke-width="16" stroke-linecap="round" stroke-linejoin="round" fill="none"/>` };
const one = { width: 400, height: 260, body: `<path d="M 44 58 L 66 34 L 66 214" stroke-width="14" stroke-linecap="round" stroke-linejoin="round" fill="none"/>` };

/** The stroke in `ink` on a `paper` background ("none": transparent), rendered to PNG by sharp. */
async function drawn(shape: { width: number; height: number; body: string }, ink: string, paper: string): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${shape.width}" height="${shape.height}"><rect width="100%" height="100%" fill="${paper}"/><g stroke="${ink}">${shape.body}</g></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

function saved(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function centreOfMass(pixels: Uint8Array): [number, number] {
  let mass = 0, sumX = 0, sumY = 0;
  for (let i = 0; i < DIGIT_PIXELS; i++) {
    mass += pixels[i]!;
    sumX += (i % 28) * pixels[i]!;
    sumY += Math.floor(i / 28) * pixels[i]!;
  }
  return [sumX / mass, sumY / mass];
}

function boundingBox(pixels: Uint8Array): { width: number; height: number } {
  let left = 28, right = -1, top = 28, bottom = -1;
  for (let i = 0; i < DIGIT_PIXELS; i++) {
    if (pixels[i] === 0) continue;
    const x = i % 28, y = Math.floor(i / 28);
    left = Math.min(left, x), right = Math.max(right, x), top = Math.min(top, y), bottom = Math.max(bottom, y);
  }
  return { width: right - left + 1, height: bottom - top + 1 };
}

function expectMnistLike(pixels: Uint8Array): void {
  expect(pixels).toBeInstanceOf(Uint8Array);
  expect(pixels.length).toBe(784);
  expect(Math.max(...pixels)).toBe(255);
  const [x, y] = centreOfMass(pixels);
  expect(Math.abs(x - 14)).toBeLessThanOrEqual(1);
  expect(Math.abs(y - 14)).toBeLessThanOrEqual(1);
  // Scaled so the larger side is 20 px; one more for anti-aliasing.
  const box = boundingBox(pixels);
  expect(Math.max(box.width, box.height)).toBeGreaterThanOrEqual(19);
  expect(Math.max(box.width, box.height)).toBeLessThanOrEqual(21);
  // Background exactly 0: everything outside the box, and the field's corners.
  expect(pixels.filter((value) => value === 0).length).toBeGreaterThanOrEqual(784 - box.width * box.height);
  for (const corner of [0, 27, 27 * 28, 783]) expect(pixels[corner]).toBe(0);
}

function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe("digitFromImage", () => {
  it("turns a large off-centre 7, black on white, into MNIST's form: 20-px box, centre of mass at (14,14), background 0", async () => {
    const pixels = await digitFromImage(saved("seven-dark.png", await drawn(seven, "black", "white")));
    expectMnistLike(pixels);
  });

  it("gives the same digit for white ink on black (MNIST's own polarity) as for black on white", async () => {
    const darkInk = await digitFromImage(await drawn(seven, "black", "white"));
    const lightInk = await digitFromImage(await drawn(seven, "white", "black"));
    expectMnistLike(lightInk);
    expect(meanAbsoluteDifference(darkInk, lightInk)).toBeLessThan(1);
  });

  it("keeps the aspect ratio: a tall 1 is 20 px high and narrow", async () => {
    for (const [ink, paper] of [["black", "white"], ["white", "black"]]) {
      const pixels = await digitFromImage(await drawn(one, ink!, paper!));
      expectMnistLike(pixels);
      const box = boundingBox(pixels);
      expect(box.height).toBeGreaterThanOrEqual(20);
      expect(box.width).toBeLessThanOrEqual(8);
    }
  });

  it("reads JPEG, and a drawing on a transparent background whatever the ink's colour", async () => {
    const reference = await digitFromImage(await drawn(seven, "black", "white"));
    const jpeg = await sharp(await drawn(seven, "black", "white")).jpeg({ quality: 85 }).toBuffer();
    const fromJpeg = await digitFromImage(saved("seven.jpg", jpeg));
    expectMnistLike(fromJpeg);
    expect(meanAbsoluteDifference(reference, fromJpeg)).toBeLessThan(6);
    for (const ink of ["black", "white", "#c03030"]) {
      const pixels = await digitFromImage(await drawn(seven, ink, "none"));
      expectMnistLike(pixels);
      expect(meanAbsoluteDifference(reference, pixels)).toBeLessThan(2);
    }
  });

  it("reproduces MNIST's own digits from enlarged copies of them", async () => {
    const { test } = loadMnist();
    for (let i = 0; i < 20; i++) {
      const original = test.pixels.subarray(i * 784, (i + 1) * 784);
      const enlarged = await sharp(Buffer.from(original), { raw: { width: 28, height: 28, channels: 1 } }).resize(112, 112, { kernel: "nearest" }).png().toBuffer();
      const pixels = await digitFromImage(enlarged);
      // A rounding of the centre-of-mass shift or a grey level here and there, not another picture.
      expect(meanAbsoluteDifference(original, pixels)).toBeLessThan(8);
    }
  });

  it.each([
    ["white", "blank-white.png"],
    ["black", "blank-black.png"],
    ["#808080", "blank-grey.png"],
  ])("rejects a blank %s image with a typed EMPTY error naming the file", async (colour, name) => {
    const path = saved(name, await sharp({ create: { width: 64, height: 48, channels: 3, background: colour } }).png().toBuffer());
    const error = await digitFromImage(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DigitImageError);
    expect(error).toMatchObject({ code: "EMPTY", source: path });
    expect((error as Error).message).toMatch(new RegExp(`^${path}: no digit: the 64×48 image is blank`));
  });

  it("rejects a faint smudge that is only noise", async () => {
    const noisy = new Uint8Array(80 * 80).map((_, i) => 240 + ((i * 7919) % 13));
    const png = await sharp(noisy, { raw: { width: 80, height: 80, channels: 1 } }).png().toBuffer();
    await expect(digitFromImage(png, "smudge.png")).rejects.toMatchObject({ code: "EMPTY", source: "smudge.png" });
  });

  it("rejects a file that is not an image, and one that cannot be read, naming the file", async () => {
    const text = saved("notes.png", Buffer.from("not a picture\n"));
    await expect(digitFromImage(text)).rejects.toThrow(new RegExp(`^${text}: not a PNG or JPEG image sharp can decode \\(Input buffer contains unsupported image format\\)$`));
    await expect(digitFromImage(text)).rejects.toMatchObject({ name: "DigitImageError", code: "NOT_AN_IMAGE" });
    const truncated = (await sharp(await drawn(seven, "black", "white")).jpeg().toBuffer()).subarray(0, 300);
    const error = (await digitFromImage(truncated, "cut.jpg").catch((caught: unknown) => caught)) as DigitImageError;
    expect(error.code).toBe("NOT_AN_IMAGE");
    expect(error.message.split("\n")).toHaveLength(1);
    const missing = join(dir, "missing.png");
    await expect(digitFromImage(missing)).rejects.toMatchObject({ code: "UNREADABLE", message: `${missing}: cannot read it: no such file` });
    await expect(digitFromImage(dir)).rejects.toMatchObject({ code: "UNREADABLE", message: `${dir}: cannot read it: it is a directory` });
  });
});
