import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { CoreError, corruptData } from "./errors.js";

/**
 * IDX files (LeCun's MNIST format), raw or gzip-compressed (told apart by the gzip magic 1f 8b,
 * not by the file name). Big-endian header: u32 magic 0x000008TT (TT = 01 labels, 03 images:
 * unsigned bytes with 1 or 3 dimensions), then one u32 per dimension, then the bytes.
 */
export interface IdxLabels {
  kind: "labels";
  count: number;
  data: Uint8Array;
}

export interface IdxImages {
  kind: "images";
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols pixels, row-major, 0 = background. */
  data: Uint8Array;
}

export type IdxFile = IdxLabels | IdxImages;

const LABELS_MAGIC = 0x00000801;
const IMAGES_MAGIC = 0x00000803;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses IDX bytes; `source` (usually the file path) names the data in errors. */
export function parseIdx(input: Uint8Array, source = "IDX data"): IdxFile {
  // plain Uint8Array views even when handed a Buffer, so callers see one type
  let bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (isGzip(bytes)) {
    try {
      const inflated = gunzipSync(bytes);
      bytes = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    } catch (error) {
      throw corruptData(source, `gzip data is corrupt or truncated (${(error as Error).message})`);
    }
  }
  if (bytes.length < 8) throw corruptData(source, `truncated: ${bytes.length} bytes, too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== LABELS_MAGIC && magic !== IMAGES_MAGIC) {
    throw corruptData(source, `bad magic 0x${magic.toString(16).padStart(8, "0")}; expected 0x00000801 (labels) or 0x00000803 (images)`);
  }
  const dims = magic & 0xff;
  const headerBytes = 4 + 4 * dims;
  if (bytes.length < headerBytes) throw corruptData(source, `truncated: ${bytes.length} bytes, the header needs ${headerBytes}`);
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const payload = shape.reduce((a, b) => a * b, 1);
  const expected = headerBytes + payload;
  if (bytes.length < expected) throw corruptData(source, `truncated: ${bytes.length} bytes, dimensions [${shape.join("×")}] need ${expected}`);
  if (bytes.length > expected) throw corruptData(source, `${bytes.length - expected} bytes beyond dimensions [${shape.join("×")}]`);
  const data = bytes.subarray(headerBytes, expected);
  if (dims === 1) return { kind: "labels", count: shape[0]!, data };
  if (shape[1] === 0 || shape[2] === 0) throw corruptData(source, `image dimensions ${shape[1]}×${shape[2]}`);
  return { kind: "images", count: shape[0]!, rows: shape[1]!, cols: shape[2]!, data };
}

export function readIdxFile(path: string): IdxFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CoreError(code === "ENOENT" ? "NOT_FOUND" : "CORRUPT_DATA", `${path}: ${(error as Error).message}`, path);
  }
  return parseIdx(bytes, path);
}
