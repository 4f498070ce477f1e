import { InvalidArgument } from "@mnist/errors";
import { IMAGE_PIXELS } from "./kernels.js";
import { native } from "./native.js";

/**
 * Images packed for the wire (native/packing.h): each image as tokens (zeros, literals, literal
 * bytes) covering its 784 pixels. MNIST is mostly background, so about a quarter of the bytes.
 */
export interface PackedImages {
  bytes: Uint8Array;
  /** ends[i]: bytes of images 0..i, so images [a, b) are bytes [ends[a-1] ?? 0, ends[b-1]). */
  ends: Uint32Array;
}

/** The most bytes one packed image can take. */
export const MAX_PACKED_IMAGE_BYTES = 3 * IMAGE_PIXELS;

export function packImages(pixels: Uint8Array): PackedImages {
  if (!(pixels instanceof Uint8Array)) throw new InvalidArgument("pixels", pixels, "a Uint8Array of 28×28 images");
  if (pixels.length % IMAGE_PIXELS !== 0) throw new InvalidArgument("pixels.length", pixels.length, `a multiple of ${IMAGE_PIXELS} (28×28 uint8 images)`);
  const [bytes, ends] = native.packPixels(pixels);
  return { bytes, ends };
}

/**
 * Unpacks `count` packed images into `out` from image `at` on, leaving alone image i where
 * skip[i] is non-zero. False, with nothing written, when `packed` is not exactly count
 * well-formed images (a reply from anyone may be garbage: that is the caller's to count).
 */
export function unpackImages(packed: Uint8Array, count: number, out: Uint8Array, at: number, skip?: Uint8Array): boolean {
  checkUnpack(packed, count, out, at, skip);
  return native.unpackPixels(packed, count, out, at, skip ?? null);
}

/**
 * unpackImages on the libuv thread pool. Checked at once, on the copy the pool will work on: when
 * `packed` is not exactly `count` well-formed images it throws an InvalidArgument and queues
 * nothing. `packed` may change once it returns; `out` must be left alone until the promise settles.
 */
export function unpackImagesAsync(packed: Uint8Array, count: number, out: Uint8Array, at: number, skip?: Uint8Array): Promise<void> {
  checkUnpack(packed, count, out, at, skip);
  try {
    return native.unpackPixelsAsync(packed, count, out, at, skip ?? null);
  } catch (error) {
    // The one check the addon makes of the bytes themselves (everything else was checked above).
    if (error instanceof RangeError) throw new InvalidArgument("packed", `${packed.length} bytes`, `exactly ${count} packed images`);
    throw error;
  }
}

function checkUnpack(packed: Uint8Array, count: number, out: Uint8Array, at: number, skip: Uint8Array | undefined): void {
  if (!(packed instanceof Uint8Array)) throw new InvalidArgument("packed", packed, "a Uint8Array");
  if (!(out instanceof Uint8Array) || out.length % IMAGE_PIXELS !== 0) throw new InvalidArgument("out", out, "a Uint8Array of whole 28×28 images");
  const room = out.length / IMAGE_PIXELS;
  if (!Number.isInteger(count) || count < 0 || count > room) throw new InvalidArgument("count", count, `an integer from 0 to ${room} (out's images)`);
  if (!Number.isInteger(at) || at < 0 || at + count > room) throw new InvalidArgument("at", at, `an integer from 0 to ${room - count} (out's images - count)`);
  if (skip !== undefined && (!(skip instanceof Uint8Array) || skip.length !== count)) throw new InvalidArgument("skip", skip, `a Uint8Array of ${count} flags`);
}

/** Images `indices` of a packed set, packed, in that order: their bytes copied, nothing repacked. */
export function selectPacked(set: PackedImages, indices: Uint32Array): PackedImages {
  if (!(indices instanceof Uint32Array)) throw new InvalidArgument("indices", indices, "a Uint32Array");
  for (let k = 0; k < indices.length; k++) {
    if (indices[k]! >= set.ends.length) throw new InvalidArgument(`indices[${k}]`, indices[k], `below ${set.ends.length}, the packed set's size`);
  }
  const [bytes, ends] = native.selectPacked(set.bytes, set.ends, indices);
  return { bytes, ends };
}
