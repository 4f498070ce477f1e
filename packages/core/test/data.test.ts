import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { CoreError, defaultDataDir, epochOrder, loadMnist, parseIdx, readIdxFile } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "core-idx-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function idx(magic: number, dims: number[], payload: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(payload)]);
}

function failure(fn: () => unknown): CoreError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CoreError) return e;
    throw e;
  }
  throw new Error("expected a CoreError");
}

describe("IDX files", () => {
  const images = idx(0x803, [2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);

  it("parses images and labels, raw or gzip (detected by magic bytes, not by name)", () => {
    const path = join(dir, "images.bin"); // no .gz suffix on purpose
    writeFileSync(path, gzipSync(images));
    const file = readIdxFile(path);
    expect(file).toMatchObject({ kind: "images", count: 2, rows: 2, cols: 3 });
    expect(Array.from(file.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    expect(parseIdx(idx(0x801, [3], [7, 8, 9]))).toMatchObject({ kind: "labels", count: 3 });
  });

  it("rejects a truncated file naming it", () => {
    const path = join(dir, "truncated-idx3-ubyte");
    writeFileSync(path, images.subarray(0, images.length - 1));
    const error = failure(() => readIdxFile(path));
    expect(error.code).toBe("CORRUPT_DATA");
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/truncated: 27 bytes, dimensions \[2×2×3\] need 28/);
  });

  it("rejects truncated gzip, bad magic, short headers and trailing bytes", () => {
    const gz = gzipSync(images);
    expect(failure(() => parseIdx(gz.subarray(0, gz.length - 6), "x.gz")).message).toMatch(/^x\.gz: gzip data is corrupt or truncated/);
    expect(failure(() => parseIdx(idx(0x802, [1], [0]), "m")).message).toMatch(/bad magic 0x00000802/);
    expect(failure(() => parseIdx(Buffer.from([0, 0, 8, 3, 0]), "h")).code).toBe("CORRUPT_DATA");
    expect(failure(() => parseIdx(idx(0x803, [1, 1, 1], [0, 0]), "t")).message).toMatch(/1 bytes beyond/);
  });

  it("reports a missing file as NOT_FOUND", () => {
    expect(failure(() => readIdxFile(join(dir, "nope"))).code).toBe("NOT_FOUND");
  });
});

describe("loadMnist", () => {
  it("splits as the chapter: 50,000 training, 10,000 validation, 10,000 test, 28×28", () => {
    const mnist = loadMnist();
    expect(mnist.training).toMatchObject({ count: 50_000, rows: 28, cols: 28 });
    expect(mnist.validation.count).toBe(10_000);
    expect(mnist.test.count).toBe(10_000);
    expect(mnist.training.pixels.length).toBe(50_000 * 784);
    expect(mnist.training.labels.subarray(0, 5)).toEqual(Uint8Array.from([5, 0, 4, 1, 9]));
    // validation is the tail of the training file
    const raw = readIdxFile(join(defaultDataDir(), "train-labels-idx1-ubyte"));
    expect(mnist.validation.labels[0]).toBe(raw.data[50_000]);
    // parsed once per process
    expect(loadMnist().test.pixels.buffer).toBe(mnist.test.pixels.buffer);
  });

  it("keeps the first trainLimit training images and reads .gz files from a data directory", () => {
    const data = join(dir, "mnist");
    const source = defaultDataDir();
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data, { recursive: true });
    for (const name of ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"]) symlinkSync(join(source, name), join(data, name));
    for (const name of ["train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"]) writeFileSync(join(data, `${name}.gz`), gzipSync(readFileSync(join(source, name))));
    const mnist = loadMnist({ dataDir: data, trainLimit: 1000 });
    expect(mnist.training.count).toBe(1000);
    expect(mnist.training.pixels.length).toBe(1000 * 784);
    expect(mnist.test.labels).toEqual(loadMnist().test.labels);
  });

  it("names a missing data file", () => {
    const error = failure(() => loadMnist({ dataDir: join(dir, "empty") }));
    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toContain("train-images-idx3-ubyte");
  });
});

describe("epochOrder", () => {
  // The algorithm as documented, in BigInt arithmetic: the augment service relies on it.
  const MASK = (1n << 64n) - 1n;
  const mix64 = (z: bigint) => {
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  };
  function reference(seed: bigint, epoch: number, n: number): Uint32Array {
    const order = Uint32Array.from({ length: n }, (_, i) => i);
    let state = mix64((seed + BigInt(epoch) * 0x9e3779b97f4a7c15n) & MASK);
    for (let i = n - 1; i > 0; i--) {
      state = (state + 0x9e3779b97f4a7c15n) & MASK;
      const j = Number(mix64(state) % BigInt(i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }

  it("is the documented splitmix64 Fisher-Yates permutation of (seed, epoch, n)", () => {
    expect(epochOrder(123n, 4, 1000)).toEqual(reference(123n, 4, 1000));
    expect(epochOrder((1n << 64n) - 1n, 0, 50)).toEqual(reference((1n << 64n) - 1n, 0, 50));
    expect(epochOrder(7, 2, 10)).toEqual(epochOrder(7n, 2, 10));
    const order = epochOrder(1n, 0, 50_000);
    expect(new Set(order).size).toBe(50_000);
    expect(Math.max(...order)).toBe(49_999);
    expect(epochOrder(1n, 1, 100)).not.toEqual(epochOrder(1n, 0, 100));
    expect(epochOrder(1n, 0, 0)).toEqual(new Uint32Array(0));
    expect(epochOrder(1n, 0, 1)).toEqual(Uint32Array.from([0]));
  });
});
