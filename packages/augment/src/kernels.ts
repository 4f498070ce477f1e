import { InvalidArgument } from "@mnist/errors";
import { native } from "./native.js";
import { augmentRanges, checkAugmentSettings, epochSize, type AugmentSettings } from "@mnist/spec";

export const IMAGE_SIDE = 28;
export const IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE;
export const MAX_SEED = (1n << 64n) - 1n;
/** Shift of expanded index j (j % 5), and the direction the content moves. */
export const shiftNames = ["none", "up", "down", "left", "right"] as const;
export type ShiftName = (typeof shiftNames)[number];

/**
 * The fixed expansion's index mapping: expanded index j is source image floor(j / 5) with shift
 * j % 5 (0 original, 1 up, 2 down, 3 left, 4 right: the content moves one pixel that way, the
 * row or column it leaves is 0). Training image i appears as 5i .. 5i + 4, so the first 5L
 * expanded indices are exactly the expansion of the first L images.
 */
export function expandedIndex(j: number): { image: number; shift: ShiftName } {
  return { image: Math.floor(j / 5), shift: shiftNames[j % 5]! };
}

export interface BatchRequest {
  /** Source images, uint8 28×28 row-major, back to back (the training set). */
  images: Uint8Array;
  /** Examples to produce: indices into the training set, or the expanded set with expandShifts. */
  indices: Uint32Array;
  spec: AugmentSettings;
  seed: bigint;
  epoch: number;
  /** Where to write indices.length × 784 bytes; allocated when absent. */
  out?: Uint8Array;
}

function checkSeed(field: string, seed: unknown): bigint {
  if (typeof seed !== "bigint" || seed < 0n || seed > MAX_SEED) throw new InvalidArgument(field, seed, "a bigint from 0 to 2^64-1");
  return seed;
}

function checkUint32(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new InvalidArgument(field, value, "an integer from 0 to 4294967295");
  }
  return value;
}

function checkImages(field: string, images: unknown): number {
  if (!(images instanceof Uint8Array)) throw new InvalidArgument(field, images, "a Uint8Array of 28×28 images");
  if (images.length === 0 || images.length % IMAGE_PIXELS !== 0) {
    throw new InvalidArgument(`${field}.length`, images.length, `a positive multiple of ${IMAGE_PIXELS} (28×28 uint8 images)`);
  }
  return images.length / IMAGE_PIXELS;
}

function checkOut(out: unknown, count: number, images: Uint8Array): Uint8Array {
  if (out === undefined) return new Uint8Array(count * IMAGE_PIXELS);
  if (!(out instanceof Uint8Array)) throw new InvalidArgument("out", out, "a Uint8Array");
  if (out.length !== count * IMAGE_PIXELS) throw new InvalidArgument("out.length", out.length, `${count * IMAGE_PIXELS} (${count} images × 784)`);
  if (out.buffer === images.buffer && out.byteOffset < images.byteOffset + images.byteLength && images.byteOffset < out.byteOffset + out.byteLength) {
    throw new InvalidArgument("out", "overlapping images", "a buffer that does not overlap the source images");
  }
  return out;
}

interface Checked {
  images: Uint8Array;
  indices: Uint32Array;
  params: Float64Array;
  seed: bigint;
  epoch: number;
  out: Uint8Array;
}

function checkBatch(request: BatchRequest): Checked {
  if (typeof request !== "object" || request === null) throw new InvalidArgument("request", request, "an object");
  const count = checkImages("images", request.images);
  const spec = checkAugmentSettings(request.spec, "spec.");
  const size = epochSize(count, spec);
  const indices = request.indices;
  if (!(indices instanceof Uint32Array)) throw new InvalidArgument("indices", indices, "a Uint32Array");
  for (let k = 0; k < indices.length; k++) {
    if (indices[k]! >= size) {
      throw new InvalidArgument(`indices[${k}]`, indices[k], `below ${size}, the ${spec.expandShifts ? "expanded " : ""}training set's size`);
    }
  }
  return {
    images: request.images,
    indices,
    params: paramVector(spec),
    seed: checkSeed("seed", request.seed),
    epoch: checkUint32("epoch", request.epoch),
    out: checkOut(request.out, indices.length, request.images),
  };
}

/**
 * Produces examples `indices` of `epoch`: the optional shift, then the random transforms drawn
 * from (seed, epoch, index), in one bilinear pass per image. Runs on the calling thread.
 */
export function augmentBatch(request: BatchRequest): Uint8Array {
  const c = checkBatch(request);
  if (c.indices.length > 0) native.augmentBatch(c.images, c.indices, c.params, c.seed, c.epoch, c.out);
  return c.out;
}

/**
 * augmentBatch on the libuv thread pool. Neither the images, the indices nor `out` may be
 * written until the promise settles.
 */
export async function augmentBatchAsync(request: BatchRequest): Promise<Uint8Array> {
  const c = checkBatch(request);
  if (c.indices.length > 0) await native.augmentBatchAsync(c.images, c.indices, c.params, c.seed, c.epoch, c.out);
  return c.out;
}

/** An explicit inverse map: output pixel (x, y) samples the source at (a x + b y + e, c x + d y + f). */
export type AffineMap = readonly [a: number, b: number, c: number, d: number, e: number, f: number];

export interface AffineParameters {
  /** Rotation in degrees (x right, y down: positive turns clockwise on screen). */
  angleDeg?: number;
  tx?: number;
  ty?: number;
  /** Horizontal shear factor. */
  shear?: number;
  scale?: number;
}

const CENTRE = 13.5;

/**
 * The inverse map of the forward transform F(u) = c + R S K (u − c) + t about the image centre
 * c = (13.5, 13.5): what the kernels use for the affine part of an example.
 */
export function inverseAffineMap(parameters: AffineParameters): AffineMap {
  const { angleDeg = 0, tx = 0, ty = 0, shear = 0, scale = 1 } = parameters;
  for (const [field, value] of Object.entries({ angleDeg, tx, ty, shear, scale })) {
    if (typeof value !== "number" || !Number.isFinite(value)) throw new InvalidArgument(field, value, "a finite number");
  }
  if (scale <= 0) throw new InvalidArgument("scale", scale, "greater than 0");
  const theta = angleDeg * (Math.PI / 180);
  const cs = Math.cos(theta);
  const sn = Math.sin(theta);
  const inv = 1 / scale;
  const r00 = cs * inv;
  const r01 = sn * inv;
  const r10 = -sn * inv;
  const r11 = cs * inv;
  const a = r00 - shear * r10;
  const b = r01 - shear * r11;
  const qx = CENTRE + tx;
  const qy = CENTRE + ty;
  return [a, b, r10, r11, CENTRE - (a * qx + b * qy), CENTRE - (r10 * qx + r11 * qy)];
}

/** Resamples image t of `images` through maps[t] (bilinear, background 0): the kernels' affine path with given parameters. */
export function affineBatch(images: Uint8Array, maps: readonly AffineMap[], out?: Uint8Array): Uint8Array {
  const count = checkImages("images", images);
  if (!Array.isArray(maps) || maps.length !== count) throw new InvalidArgument("maps.length", Array.isArray(maps) ? maps.length : maps, `${count}, one map per image`);
  const flat = new Float64Array(count * 6);
  maps.forEach((map, t) => {
    if (!Array.isArray(map) || map.length !== 6) throw new InvalidArgument(`maps[${t}]`, map, "six numbers a, b, c, d, e, f");
    map.forEach((value, k) => {
      if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > 1e6) throw new InvalidArgument(`maps[${t}][${k}]`, value, "a finite number within ±1e6");
      flat[t * 6 + k] = value;
    });
  });
  const target = checkOut(out, count, images);
  native.affineBatch(images, flat, target);
  return target;
}

/** What the PRNG drew for one example: with the source image, all its output depends on. */
export interface ExampleDraw {
  shift: ShiftName;
  rotate: boolean;
  translate: boolean;
  skew: boolean;
  scale: boolean;
  elastic: boolean;
  angleDeg: number;
  tx: number;
  ty: number;
  shear: number;
  factor: number;
}

export function drawExample(spec: AugmentSettings, seed: bigint, epoch: number, index: number): ExampleDraw {
  const settings = checkAugmentSettings(spec, "spec.");
  const d = native.drawExample(paramVector(settings), checkSeed("seed", seed), checkUint32("epoch", epoch), checkUint32("index", index));
  return {
    shift: shiftNames[d[0]!]!,
    rotate: d[1] === 1,
    translate: d[2] === 1,
    skew: d[3] === 1,
    scale: d[4] === 1,
    elastic: d[5] === 1,
    angleDeg: d[6]!,
    tx: d[7]!,
    ty: d[8]!,
    shear: d[9]!,
    factor: d[10]!,
  };
}

/** The elastic displacement field (pixels) the kernels use for an example: dx then dy, 784 each. */
export function elasticField(seed: bigint, epoch: number, index: number, alpha: number, sigma: number): { dx: Float32Array; dy: Float32Array } {
  const { min, max } = augmentRanges.elasticAlpha;
  if (typeof alpha !== "number" || !(alpha >= min && alpha <= max)) throw new InvalidArgument("alpha", alpha, augmentRanges.elasticAlpha.allowed);
  if (typeof sigma !== "number" || !(sigma > 0 && sigma <= augmentRanges.elasticSigma.max)) throw new InvalidArgument("sigma", sigma, "a smoothing sigma greater than 0, at most 30");
  const field = native.elasticField(checkSeed("seed", seed), checkUint32("epoch", epoch), checkUint32("index", index), alpha, sigma);
  return { dx: field.subarray(0, IMAGE_PIXELS), dy: field.subarray(IMAGE_PIXELS) };
}

/** The chapter's fixed expansion of a whole set: image i becomes expanded images 5i .. 5i + 4 (see expandedIndex). */
export function expandShifts(images: Uint8Array): Uint8Array {
  const count = checkImages("images", images);
  const indices = new Uint32Array(count * 5);
  for (let j = 0; j < indices.length; j++) indices[j] = j;
  return augmentBatch({ images, indices, spec: { ...checkAugmentSettings(undefined), expandShifts: true }, seed: 0n, epoch: 0 });
}

/** The addon's parameter vector (native/kernels.h Params order). */
export function paramVector(spec: AugmentSettings): Float64Array {
  return Float64Array.of(
    spec.rotateProbability,
    spec.rotateDegrees,
    spec.translateProbability,
    spec.translatePixels,
    spec.skewProbability,
    spec.skew,
    spec.scaleProbability,
    spec.scale,
    spec.elasticProbability,
    spec.elasticAlpha,
    spec.elasticSigma,
    spec.expandShifts ? 1 : 0,
  );
}
