import { create, toBinary } from "@bufbuild/protobuf";
import { SampleBatchSchema, type SliceRequest } from "@mnist/protocol";
import { InvalidArgument } from "@mnist/errors";
import type { EpochPlan, PackedSliceData } from "@mnist/augment";
import { checkAugmentSettings, checkRunId, epochSize } from "@mnist/spec";

/**
 * The slice protocol over NATS. A consumer publishes a SliceRequest on SLICE_SUBJECT with a reply
 * subject of its own (`<inbox>.<generation>.<slice>.<attempt>`); one replica of the queue group
 * AUGMENT_QUEUE answers with one or more SampleBatch parts on that reply subject, each under the
 * server's max_payload, each placed by `offset` within the slice. A rejected request gets one
 * SampleBatch with `error` set.
 */
export const SLICE_SUBJECT = "mnist.augment.slice";
export const AUGMENT_QUEUE = "augment";
/** A SliceRequest is a few dozen bytes; anything larger than this is refused unread. */
export const MAX_REQUEST_BYTES = 16 * 1024;
/** Room for the part's other fields and the message's framing. */
export const PART_OVERHEAD_BYTES = 1024;

export interface SliceLimits {
  /** Images in the service's training set (50,000 for MNIST). */
  trainingImages: number;
  /** The most examples one request may ask for. */
  maxSliceExamples: number;
}

export interface CheckedSliceRequest {
  runId: string;
  plan: EpochPlan;
  epoch: number;
  slice: number;
  start: number;
  count: number;
}

/** Checks a decoded request against the limits; the first bad field throws an InvalidArgument naming it. */
export function checkSliceRequest(request: SliceRequest, limits: SliceLimits): CheckedSliceRequest {
  const runId = checkRunId(request.runId);
  if (request.trainLimit > limits.trainingImages) {
    throw new InvalidArgument("trainLimit", request.trainLimit, `an integer from 0 (all) to ${limits.trainingImages}`);
  }
  const augment = checkAugmentSettings(request.augment, "augment.");
  const n = epochSize(request.trainLimit || limits.trainingImages, augment);
  if (request.start >= n) throw new InvalidArgument("start", request.start, `an integer from 0 to ${n - 1} (the epoch has ${n} examples)`);
  const most = Math.min(limits.maxSliceExamples, n - request.start);
  if (request.count < 1 || request.count > most) throw new InvalidArgument("count", request.count, `an integer from 1 to ${most}`);
  return {
    runId,
    plan: { seed: request.seed, trainLimit: request.trainLimit, augment },
    epoch: request.epoch,
    slice: request.slice,
    start: request.start,
    count: request.count,
  };
}

/** What an example adds to a part besides its packed pixels: its label byte and its index as a varint. */
const LABEL_AND_INDEX_BYTES = 1 + 5;

/**
 * The slice as SampleBatch parts, each under maxPartBytes (its images packed: the proto's
 * packed_pixels, packSlice / SliceMaker.makePacked), as many whole examples to a part as fit. maxPartBytes must leave room for one
 * example (PART_OVERHEAD_BYTES + MAX_PACKED_IMAGE_BYTES + 6; the service allows 8 KiB and up).
 */
export function encodeParts(request: Pick<CheckedSliceRequest, "runId" | "epoch" | "slice">, data: PackedSliceData, maxPartBytes: number): Uint8Array[] {
  const count = data.indices.length;
  const { packed } = data;
  const endOf = (example: number) => (example === 0 ? 0 : packed.ends[example - 1]!);
  const room = maxPartBytes - PART_OVERHEAD_BYTES;
  const bounds: [number, number][] = [];
  for (let from = 0; from < count; ) {
    let to = from + 1;
    while (to < count && endOf(to + 1) - endOf(from) + (to + 1 - from) * LABEL_AND_INDEX_BYTES <= room) to++;
    bounds.push([from, to]);
    from = to;
  }
  return bounds.map(([from, to], part) =>
    toBinary(
      SampleBatchSchema,
      create(SampleBatchSchema, {
        runId: request.runId,
        epoch: request.epoch,
        slice: request.slice,
        part,
        parts: bounds.length,
        offset: from,
        packedPixels: packed.bytes.subarray(endOf(from), endOf(to)),
        labels: data.labels.subarray(from, to),
        indices: Array.from(data.indices.subarray(from, to)),
      }),
    ),
  );
}

/** The one-message answer to a rejected request. */
export function encodeError(request: { runId: string; epoch: number; slice: number }, reason: string): Uint8Array {
  return toBinary(SampleBatchSchema, create(SampleBatchSchema, { runId: request.runId, epoch: request.epoch, slice: request.slice, error: reason.slice(0, 1000) }));
}
