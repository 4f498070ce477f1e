import { extname } from "node:path";
import { augmentBatch, IMAGE_PIXELS, IMAGE_SIDE, loadTrainingSet } from "@mnist/augment";
import { presets, type PresetName } from "@mnist/spec";
import sharp from "sharp";
import type { Command } from "../command.js";
import { UsageError } from "../errors.js";
import { FlagReader, parseFlags } from "../flags.js";

const usage = [
  "mnistctl augment bench --transform elastic|affine [--count N] [--seed S] [--json]",
  "       mnistctl augment preview --transform elastic|affine|none --out grid.png [--count N] [--copies K] [--zoom Z] [--seed S]",
  "",
  "transforms (every image, composed into one bilinear pass):",
  "  affine   rotation within ±15°, translation within ±2 px, skew within ±0.3, scale within 1 ± 0.1",
  "  elastic  affine plus Simard's elastic distortion (alpha 34, sigma 4)",
  "  none     plain MNIST",
  "bench measures the kernels on one core (the calling thread) over MNIST training images;",
  "preview draws each of the first N training images beside K distorted copies (epochs 0 .. K-1).",
].join("\n");

const BATCH = 1000;

function integerIn(reader: FlagReader, flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  const value = reader.integer(flag, raw) ?? fallback;
  if (value < min || value > max) reader.fail(flag, raw!, `a whole number from ${min} to ${max}`);
  return value;
}

async function bench(argv: string[]): Promise<number> {
  const name = "augment bench";
  const { values } = parseFlags(name, argv, { transform: { type: "string" }, count: { type: "string" }, seed: { type: "string" }, json: { type: "boolean" } });
  const reader = new FlagReader(name);
  const transform = reader.choice("transform", values.transform, ["elastic", "affine"] as const) ?? "elastic";
  const count = integerIn(reader, "count", values.count, 100_000, 1, 100_000_000);
  const seed = reader.bigint("seed", values.seed) ?? 1n;
  const training = loadTrainingSet();
  const spec = presets[transform];
  const indices = new Uint32Array(BATCH);
  const out = new Uint8Array(BATCH * IMAGE_PIXELS);
  const run = (total: number, epoch: number): number => {
    const started = process.hrtime.bigint();
    for (let done = 0; done < total; done += BATCH) {
      const size = Math.min(BATCH, total - done);
      for (let k = 0; k < size; k++) indices[k] = (done + k) % training.count;
      augmentBatch({ images: training.pixels, indices: indices.subarray(0, size), spec, seed, epoch, out: out.subarray(0, size * IMAGE_PIXELS) });
    }
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  run(Math.min(count, 2 * BATCH), 1); // warm caches and the page tables of the training set
  const seconds = run(count, 0);
  const imagesPerSecond = Math.round(count / seconds);
  if (values.json) {
    process.stdout.write(JSON.stringify({ transform, count, imagesPerSecond, seconds: Number(seconds.toFixed(4)), threads: 1 }) + "\n");
  } else {
    process.stdout.write(`${transform}: ${count} images in ${seconds.toFixed(3)} s on one core\nimagesPerSecond ${imagesPerSecond}\n`);
  }
  return 0;
}

async function preview(argv: string[]): Promise<number> {
  const name = "augment preview";
  const { values } = parseFlags(name, argv, {
    transform: { type: "string" },
    count: { type: "string" },
    copies: { type: "string" },
    zoom: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
  });
  const reader = new FlagReader(name);
  const transform: PresetName = reader.choice("transform", values.transform, ["elastic", "affine", "none"] as const) ?? "elastic";
  const count = integerIn(reader, "count", values.count, 8, 1, 200);
  const copies = integerIn(reader, "copies", values.copies, 7, 1, 50);
  const zoom = integerIn(reader, "zoom", values.zoom, 3, 1, 16);
  const seed = reader.bigint("seed", values.seed) ?? 1n;
  if (values.out === undefined || values.out === "") throw new UsageError(`mnistctl ${name}: --out FILE.png is required`);
  if (extname(values.out).toLowerCase() !== ".png") reader.fail("out", values.out, "a file name ending in .png");

  const training = loadTrainingSet();
  const spec = presets[transform];
  const cell = IMAGE_SIDE * zoom;
  const gap = 2;
  const divider = 4 * gap;
  const columns = 1 + copies;
  const width = gap + cell + divider + copies * (cell + gap);
  const height = gap + count * (cell + gap);
  const grid = new Uint8Array(width * height).fill(96);
  const draw = (image: Uint8Array, row: number, column: number) => {
    const left = column === 0 ? gap : gap + cell + divider + (column - 1) * (cell + gap);
    const top = gap + row * (cell + gap);
    for (let y = 0; y < cell; y++) {
      for (let x = 0; x < cell; x++) grid[(top + y) * width + left + x] = image[Math.floor(y / zoom) * IMAGE_SIDE + Math.floor(x / zoom)]!;
    }
  };
  const indices = Uint32Array.from({ length: count }, (_, i) => i);
  for (let i = 0; i < count; i++) draw(training.pixels.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), i, 0);
  for (let copy = 1; copy < columns; copy++) {
    const distorted = augmentBatch({ images: training.pixels, indices, spec, seed, epoch: copy - 1 });
    for (let i = 0; i < count; i++) draw(distorted.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), i, copy);
  }
  await sharp(grid, { raw: { width, height, channels: 1 } }).png().toFile(values.out);
  process.stdout.write(`wrote ${values.out}: ${count} originals, each beside ${copies} ${transform} copies (${width}×${height})\n`);
  return 0;
}

export const augmentCommand: Command = {
  name: "augment",
  summary: "benchmark augmentation or write a PNG contact sheet of distorted digits",
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === "bench") return bench(rest);
    if (sub === "preview") return preview(rest);
    throw new UsageError(`mnistctl augment: ${sub === undefined ? "a subcommand is required" : `unknown subcommand ${JSON.stringify(sub)}`}; use bench or preview`);
  },
};
