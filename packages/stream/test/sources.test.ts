import { create, fromBinary } from "@bufbuild/protobuf";
import { SampleBatchSchema, SliceRequestSchema } from "@mnist/protocol";
import { describe, expect, it } from "vitest";
import { InvalidArgument } from "@mnist/errors";
import { checkSliceRequest, encodeParts, LocalEpochSource, type EpochSlice } from "../src/index.js";
import { epochOrder, IMAGE_PIXELS, loadTrainingSet, packSlice, SliceMaker, unpackImages } from "@mnist/augment";
import { presets } from "@mnist/spec";

const training = loadTrainingSet();
const maker = new SliceMaker(training);

async function collect(source: LocalEpochSource, epoch: number): Promise<EpochSlice[]> {
  const slices: EpochSlice[] = [];
  for await (const slice of source.epoch(epoch)) slices.push(slice);
  return slices;
}

describe("the in-process epoch source", () => {
  const plan = { seed: 11n, trainLimit: 600, augment: { ...presets.elastic, expandShifts: true } };

  it("yields every example of the epoch exactly once, in the epoch order, as consecutive slices", async () => {
    const source = new LocalEpochSource({ training: maker, plan, sliceSize: 700 });
    expect(source.size).toBe(3000);
    expect(source.slices).toBe(5);
    const slices = await collect(source, 2);
    const order = epochOrder(11n, 2, 3000);
    expect(slices.map((s) => [s.start, s.count])).toEqual([[0, 700], [700, 700], [1400, 700], [2100, 700], [2800, 200]]);
    const indices = slices.flatMap((s) => Array.from(s.indices));
    expect(indices).toEqual(Array.from(order));
    expect(new Set(indices).size).toBe(3000);
    for (const s of slices) {
      expect(s.pixels.length).toBe(s.count * IMAGE_PIXELS);
      s.indices.forEach((j, k) => expect(s.labels[k]).toBe(training.labels[Math.floor(j / 5)]));
    }
    expect(source.stats()).toMatchObject({ slicesDelivered: 5, examplesDelivered: 3000, inFlightSlices: 0 });
    expect(source.stats().maxInFlightSlices).toBeLessThanOrEqual(4);
  });

  it("gives the same bytes whatever the slice size (bytes depend on seed, epoch and index only)", async () => {
    const a = await collect(new LocalEpochSource({ training: maker, plan, sliceSize: 700 }), 1);
    const b = await collect(new LocalEpochSource({ training, plan, sliceSize: 3000, maxInFlight: 1 }), 1);
    const bytes = (slices: EpochSlice[]) => Buffer.concat(slices.map((s) => s.pixels));
    expect(bytes(a).equals(bytes(b))).toBe(true);
    expect(bytes(a).equals(maker.makeSync(plan, 1, 0, 3000).pixels)).toBe(true);
    const other = await collect(new LocalEpochSource({ training: maker, plan, sliceSize: 3000 }), 2);
    expect(bytes(other).equals(bytes(b))).toBe(false);
  });

  it("reads one epoch at a time and names bad options", async () => {
    const source = new LocalEpochSource({ training: maker, plan, sliceSize: 100 });
    const first = source.epoch(0);
    await first.next();
    await expect(source.epoch(1).next()).rejects.toThrow(/one epoch at a time/);
    await first.return(undefined);
    expect(source.stats().inFlightSlices).toBe(0);
    expect((await source.epoch(1).next()).value?.count).toBe(100);
    expect(() => new LocalEpochSource({ training: maker, plan, sliceSize: 0 })).toThrow(InvalidArgument);
    expect(() => new LocalEpochSource({ training: maker, plan: { ...plan, trainLimit: 50_001 } })).toThrow(/trainLimit/);
    expect(() => new LocalEpochSource({ training: maker, plan: { ...plan, seed: -1n } })).toThrow(/plan.seed/);
  });
});

describe("the slice protocol", () => {
  const limits = { trainingImages: 50_000, maxSliceExamples: 10_000 };
  const request = (fields: object) =>
    create(SliceRequestSchema, { runId: "run-1", seed: 1n, epoch: 0, slice: 0, start: 0, count: 10, trainLimit: 0, augment: presets.affine, ...fields });

  it.each([
    ["runId", { runId: "" }],
    ["runId", { runId: "a b" }],
    ["trainLimit", { trainLimit: 60_000 }],
    ["start", { start: 50_000 }],
    ["count", { count: 0 }],
    ["count", { count: 10_001 }],
    ["count", { start: 49_995, count: 10 }],
    ["augment.rotateProbability", { augment: { ...presets.affine, rotateProbability: 1.5 } }],
    ["augment.elasticSigma", { augment: { ...presets.elastic, elasticSigma: 0 } }],
  ])("rejects a bad %s naming it", (field, fields) => {
    expect(() => checkSliceRequest(request(fields), limits)).toThrow(expect.objectContaining({ field, code: "INVALID_ARGUMENT" }));
  });

  it("accepts the expanded range with expandShifts", () => {
    expect(checkSliceRequest(request({ start: 249_990, count: 10, augment: { ...presets.none, expandShifts: true } }), limits).count).toBe(10);
  });

  it("splits a slice into parts each under the part size, placed by offset, its images packed", () => {
    const data = maker.makeSync({ seed: 1n, trainLimit: 0, augment: presets.affine }, 0, 0, 1000);
    const parts = encodeParts({ runId: "run-1", epoch: 0, slice: 3 }, packSlice(data), 60_000);
    const decoded = parts.map((part) => fromBinary(SampleBatchSchema, part));
    expect(parts.length).toBeGreaterThan(3);
    parts.forEach((part) => expect(part.length).toBeLessThan(60_000));
    // A quarter of the raw bytes, or less: MNIST is mostly background.
    expect(parts.reduce((bytes, part) => bytes + part.length, 0)).toBeLessThan(data.pixels.length / 3);
    let offset = 0;
    const pixels = new Uint8Array(data.pixels.length);
    decoded.forEach((d, part) => {
      expect([d.part, d.parts, d.offset]).toEqual([part, parts.length, offset]);
      expect(d.labels).toEqual(data.labels.subarray(offset, offset + d.indices.length));
      expect(unpackImages(d.packedPixels, d.indices.length, pixels, offset)).toBe(true);
      offset += d.indices.length;
    });
    expect(offset).toBe(1000);
    expect(Buffer.from(pixels).equals(data.pixels)).toBe(true);
  });
});
