import { readFile, stat } from "node:fs/promises";
import sharp, { type Metadata, type Sharp } from "sharp";

/**
 * A picture of a handwritten digit turned into MNIST's form, following LeCun's description of how
 * MNIST was made: the digit is size-normalised (aspect ratio kept, anti-aliased) to fit a 20×20 box,
 * then placed in a 28×28 field so that its centre of mass sits at the centre. MNIST is white ink on
 * a black background of exactly 0, one byte per pixel, row-major.
 */
export const DIGIT_SIDE = 28;
export const DIGIT_PIXELS = DIGIT_SIDE * DIGIT_SIDE;
/** The box the ink is scaled to fit: its larger side becomes this many pixels. */
export const DIGIT_BOX = 20;

/**
 * The most pixels a picture may have: a 24-megapixel photograph (6000×4000). The whole picture is
 * decoded before it is cropped to the ink, and a PNG of a blank 50-megapixel page is a few kilobytes
 * (a decompression bomb), so a larger one is refused from its header, before it is decoded.
 */
export const MAX_IMAGE_PIXELS = 24_000_000;
/** The largest file read: a 24-megapixel JPEG is a few megabytes, and even an uncompressed 8-bit RGBA PNG of one 96 MB. */
export const MAX_IMAGE_BYTES = 100_000_000;

export type DigitImageErrorCode =
  /** The file could not be read at all. */
  | "UNREADABLE"
  /** The file, or the picture in it, is larger than this program decodes (MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS). */
  | "TOO_LARGE"
  /** The bytes are not an image sharp can decode. */
  | "NOT_AN_IMAGE"
  /** The image decodes but holds no ink distinguishable from its background. */
  | "EMPTY";

export class DigitImageError extends Error {
  override readonly name = "DigitImageError";
  constructor(
    readonly code: DigitImageErrorCode,
    /** The file path, or the name given for a buffer. */
    readonly source: string,
    problem: string,
  ) {
    super(`${source}: ${problem}`);
  }
}

/** An 8-bit single-channel picture, row-major. */
interface Grey {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/**
 * Ink darker or lighter than its background by less than this many grey levels (of 255) is taken
 * for a blank picture: JPEG noise and paper texture stay well below it.
 */
const MIN_CONTRAST = 32;
/**
 * Levels within this fraction of the contrast above the background count as background, so that
 * noise and paper texture neither widen the bounding box nor leave a grey haze where MNIST has 0.
 */
const NOISE_FLOOR = 0.1;

/**
 * MNIST's 784 bytes for a PNG or JPEG (path or bytes) of one digit. `source` names the picture in
 * errors; it defaults to the path. Throws DigitImageError for unreadable,
 * too large, undecodable or blank input.
 */
export async function digitFromImage(input: string | Buffer, source = typeof input === "string" ? input : "image"): Promise<Uint8Array> {
  const bytes = typeof input === "string" ? await readImageFile(input, source) : input;
  if (bytes.length > MAX_IMAGE_BYTES) throw tooLarge(source, megabytes(bytes.length), megabytes(MAX_IMAGE_BYTES));
  const ink = await decodeInk(bytes, source);
  const levelled = levelInk(ink, source);
  const scaled = await scaleToBox(levelled, source);
  return centreByMass(scaled);
}

/** The file's bytes; its size is checked first, so a huge file is refused without being read. */
async function readImageFile(path: string, source: string): Promise<Buffer> {
  try {
    const stats = await stat(path);
    if (stats.isFile() && stats.size > MAX_IMAGE_BYTES) throw tooLarge(source, megabytes(stats.size), megabytes(MAX_IMAGE_BYTES));
    return await readFile(path);
  } catch (error) {
    if (error instanceof DigitImageError) throw error;
    throw new DigitImageError("UNREADABLE", source, `cannot read it: ${readProblem(error)}`);
  }
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function tooLarge(source: string, size: string, allowed: string): DigitImageError {
  return new DigitImageError("TOO_LARGE", source, `too large: ${size}; at most ${allowed} are allowed (crop or scale the picture down to the digit)`);
}

function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: "no such file", EACCES: "permission denied", EISDIR: "it is a directory" };
  return (code && known[code]) ?? (error instanceof Error ? error.message : String(error));
}

/** First line of a sharp error: libvips appends its own warnings on further lines. */
function sharpProblem(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}

function notAnImage(source: string, error: unknown): DigitImageError {
  return new DigitImageError("NOT_AN_IMAGE", source, `not a PNG or JPEG image sharp can decode (${sharpProblem(error)})`);
}

async function raw(pipeline: Sharp): Promise<Grey> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  // sharp turns single-channel raw input into sRGB unless told otherwise; every caller asks for
  // one 8-bit channel (16-bit PNGs included: sharp scales them to 8 bits on the way).
  if (info.channels !== 1 || data.length !== info.width * info.height) {
    throw new Error(`digitFromImage: sharp returned ${info.channels} channels, ${data.length} bytes, where one 8-bit channel was asked for`);
  }
  return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** raw() of the caller's bytes: a failure here means the bytes are not an image. */
async function decoded(pipeline: Sharp, source: string): Promise<Grey> {
  try {
    return await raw(pipeline);
  } catch (error) {
    throw notAnImage(source, error);
  }
}

/** Median of the outermost ring of pixels: the background, even where a stroke touches the edge. */
function borderMedian({ pixels, width, height }: Grey): number {
  const ring: number[] = [];
  for (let x = 0; x < width; x++) ring.push(pixels[x]!, pixels[(height - 1) * width + x]!);
  for (let y = 1; y + 1 < height; y++) ring.push(pixels[y * width]!, pixels[y * width + width - 1]!);
  ring.sort((a, b) => a - b);
  return ring[ring.length >> 1]!;
}

/**
 * The picture with bright ink on a dark background, whatever it was drawn as. A picture whose
 * border is transparent (a canvas export) is its alpha channel: the strokes' colour says nothing.
 * Otherwise greyscale decides by the border: a light border means dark ink, which is inverted.
 */
async function decodeInk(bytes: Buffer, source: string): Promise<Grey> {
  let metadata: Metadata;
  try {
    // Reads the header only: the size is known before anything is decoded.
    metadata = await sharp(bytes).metadata();
  } catch (error) {
    throw notAnImage(source, error);
  }
  const { width = 0, height = 0 } = metadata;
  if (width * height > MAX_IMAGE_PIXELS) {
    throw tooLarge(source, `${width}×${height} pixels (${(width * height / 1e6).toFixed(1)} megapixels)`, `${MAX_IMAGE_PIXELS / 1e6} megapixels, such as 6000×4000,`);
  }
  // The same limit in libvips, for what a header does not say (the pages of an animation).
  const open = () => sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS });
  // rotate() with no angle applies the EXIF orientation of photographs.
  if (metadata.hasAlpha) {
    const alpha = await decoded(open().rotate().ensureAlpha().extractChannel("alpha"), source);
    if (borderMedian(alpha) < 128) return alpha;
  }
  const grey = await decoded(open().rotate().flatten({ background: "#ffffff" }).greyscale(), source);
  if (borderMedian(grey) >= 128) for (let i = 0; i < grey.pixels.length; i++) grey.pixels[i] = 255 - grey.pixels[i]!;
  return grey;
}

/**
 * MNIST's background is exactly 0 and its strokes reach 255: the levels are stretched so that the
 * noise floor above the background becomes 0 and the brightest ink 255, then the picture is cropped
 * to the bounding box of what remains.
 */
function levelInk(ink: Grey, source: string): Grey {
  const background = borderMedian(ink);
  let peak = 0;
  for (const value of ink.pixels) if (value > peak) peak = value;
  if (peak - background < MIN_CONTRAST) {
    throw new DigitImageError("EMPTY", source, `no digit: the ${ink.width}×${ink.height} image is blank (no ink differs from the background by ${MIN_CONTRAST} grey levels)`);
  }
  const floor = background + NOISE_FLOOR * (peak - background);
  const gain = 255 / (peak - floor);
  let left = ink.width, right = -1, top = ink.height, bottom = -1;
  const levelled = new Uint8Array(ink.pixels.length);
  for (let y = 0; y < ink.height; y++) {
    for (let x = 0; x < ink.width; x++) {
      const value = ink.pixels[y * ink.width + x]!;
      if (value <= floor) continue;
      levelled[y * ink.width + x] = Math.min(255, Math.round((value - floor) * gain));
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  const width = right - left + 1, height = bottom - top + 1;
  const cropped = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) cropped.set(levelled.subarray((top + y) * ink.width + left, (top + y) * ink.width + left + width), y * width);
  return { pixels: cropped, width, height };
}

/**
 * The ink scaled so its larger side is DIGIT_BOX pixels, by sharp's anti-aliased Lanczos resize, as
 * MNIST's normalisation left grey levels at the edges. The peak is brought back to 255 afterwards:
 * every MNIST digit reaches full intensity, while a thin stroke shrunk many times would turn faint.
 */
async function scaleToBox(ink: Grey, source: string): Promise<Grey> {
  const scale = DIGIT_BOX / Math.max(ink.width, ink.height);
  const width = Math.max(1, Math.round(ink.width * scale));
  const height = Math.max(1, Math.round(ink.height * scale));
  const scaled = await raw(sharp(ink.pixels, { raw: { width: ink.width, height: ink.height, channels: 1 } }).resize(width, height, { fit: "fill", kernel: "lanczos3" }).greyscale());
  let peak = 0;
  for (const value of scaled.pixels) if (value > peak) peak = value;
  if (peak === 0) throw new DigitImageError("EMPTY", source, `no digit: the ink is too small to survive scaling to ${DIGIT_BOX} pixels`);
  if (peak < 255) for (let i = 0; i < scaled.pixels.length; i++) scaled.pixels[i] = Math.round((scaled.pixels[i]! * 255) / peak);
  return scaled;
}

/**
 * Places the scaled ink in the 28×28 field so that its centre of mass (pixel indices weighted by
 * intensity) lands on (14, 14), the offset rounded to whole pixels as LeCun describes. The offset
 * is clamped so the whole digit stays inside the field: for a very lopsided shape, cutting off ink
 * would hurt more than a centre of mass a pixel or two away from the centre.
 */
function centreByMass(ink: Grey): Uint8Array {
  let mass = 0, sumX = 0, sumY = 0;
  for (let y = 0; y < ink.height; y++) {
    for (let x = 0; x < ink.width; x++) {
      const value = ink.pixels[y * ink.width + x]!;
      mass += value;
      sumX += x * value;
      sumY += y * value;
    }
  }
  const centre = DIGIT_SIDE / 2;
  const clamp = (offset: number, size: number) => Math.min(DIGIT_SIDE - size, Math.max(0, offset));
  const left = clamp(Math.round(centre - sumX / mass), ink.width);
  const top = clamp(Math.round(centre - sumY / mass), ink.height);
  const field = new Uint8Array(DIGIT_PIXELS);
  for (let y = 0; y < ink.height; y++) field.set(ink.pixels.subarray(y * ink.width, (y + 1) * ink.width), (top + y) * DIGIT_SIDE + left);
  return field;
}
