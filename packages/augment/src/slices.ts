import { InvalidArgument } from "@mnist/errors";
import { augmentBatch, augmentBatchAsync, IMAGE_PIXELS } from "./kernels.js";
import { checkTrainingSet, limitTrainingSet, type TrainingSet } from "./dataset.js";
import { packImages, selectPacked, type PackedImages } from "./packing.js";
import { epochOrder as defaultOrder, type EpochOrder } from "./order.js";
import { checkAugmentSettings, epochSize, noAugmentation, type AugmentSettings } from "@mnist/spec";

/** Everything a run's epochs depend on: with the epoch number, all a slice's bytes depend on. */
export interface EpochPlan {
  seed: bigint;
  /** Train on the first trainLimit images; 0 = all. */
  trainLimit: number;
  /** Absent: plain MNIST. A resolved run spec ({ seed, trainLimit, augment }) is a plan. */
  augment?: AugmentSettings | undefined;
}

/** Examples [start, start + count) of an epoch's order, augmented. */
export interface SliceData {
  /** count × 784 bytes. */
  pixels: Uint8Array;
  labels: Uint8Array;
  /** Index of each example in the (expanded) training set. */
  indices: Uint32Array;
}

/** A slice as it goes on the wire: its images packed (see packImages). */
export interface PackedSliceData {
  packed: PackedImages;
  labels: Uint8Array;
  indices: Uint32Array;
}

export function packSlice(data: SliceData): PackedSliceData {
  return { packed: packImages(data.pixels), labels: data.labels, indices: data.indices };
}

/** No transform and no expansion: every example is a training image as it is. */
function isPlain(settings: AugmentSettings): boolean {
  return (Object.keys(noAugmentation) as (keyof AugmentSettings)[]).every((field) => settings[field] === noAugmentation[field]);
}

/** The bytes one example of a slice takes held in memory (pixels, label byte, 4-byte index): what a source counts as held. */
export const BYTES_PER_EXAMPLE = IMAGE_PIXELS + 1 + 4;

/**
 * Cuts epochs into slices and makes them: the one code path behind both the augment service and
 * the in-process source, so the two give the same bytes.
 */
export class SliceMaker {
  readonly training: TrainingSet;
  private readonly order: EpochOrder;
  private readonly orders = new Map<string, Uint32Array>();
  private readonly cachedOrders: number;
  /** The training set packed once, for plain slices (makePacked). */
  private packedTraining?: PackedImages;

  constructor(training: TrainingSet, options: { order?: EpochOrder; cachedOrders?: number } = {}) {
    this.training = checkTrainingSet(training);
    this.order = options.order ?? defaultOrder;
    this.cachedOrders = options.cachedOrders ?? 8;
  }

  /** Examples per epoch under the plan. */
  size(plan: EpochPlan): number {
    return epochSize(this.imagesFor(plan).count, plan.augment);
  }

  private imagesFor(plan: EpochPlan): TrainingSet {
    return limitTrainingSet(this.training, plan.trainLimit);
  }

  /** The epoch's order over the (expanded) training set, from a small cache. */
  epochOrder(plan: EpochPlan, epoch: number): Uint32Array {
    const n = this.size(plan);
    const key = `${plan.seed}:${epoch}:${n}`;
    let order = this.orders.get(key);
    if (order) {
      this.orders.delete(key);
    } else {
      order = this.order(plan.seed, epoch, n);
      if (order.length !== n) throw new Error(`epoch order has ${order.length} entries for ${n} examples`);
    }
    this.orders.set(key, order);
    while (this.orders.size > this.cachedOrders) this.orders.delete(this.orders.keys().next().value!);
    return order;
  }

  private prepare(plan: EpochPlan, epoch: number, start: number, count: number) {
    const examples = this.examples(plan, epoch, start, count);
    return { request: batchRequest(plan, epoch, examples), labels: examples.labels, indices: examples.indices };
  }

  /** Which examples a slice holds, and their labels. */
  private examples(plan: EpochPlan, epoch: number, start: number, count: number) {
    const augment = checkAugmentSettings(plan.augment);
    const images = this.imagesFor(plan);
    const n = epochSize(images.count, augment);
    if (!Number.isInteger(start) || start < 0 || start >= n) throw new InvalidArgument("start", start, `an integer from 0 to ${n - 1} (the epoch has ${n} examples)`);
    if (!Number.isInteger(count) || count < 1 || start + count > n) throw new InvalidArgument("count", count, `an integer from 1 to ${n - start} (the epoch has ${n} examples)`);
    const indices = this.epochOrder(plan, epoch).slice(start, start + count);
    const labels = new Uint8Array(count);
    const shift = augment.expandShifts;
    for (let k = 0; k < count; k++) labels[k] = images.labels[shift ? Math.floor(indices[k]! / 5) : indices[k]!]!;
    return { augment, images, labels, indices };
  }

  /** On the calling thread. */
  makeSync(plan: EpochPlan, epoch: number, start: number, count: number): SliceData {
    const { request, labels, indices } = this.prepare(plan, epoch, start, count);
    return { pixels: augmentBatch(request), labels, indices };
  }

  /** On the libuv thread pool. */
  async make(plan: EpochPlan, epoch: number, start: number, count: number): Promise<SliceData> {
    const { request, labels, indices } = this.prepare(plan, epoch, start, count);
    return { pixels: await augmentBatchAsync(request), labels, indices };
  }

  /**
   * The slice packed for the wire, the same bytes as packSlice(make(...)): a plain slice (no
   * transform, no expansion) copies its images' bytes from the training set packed once, the
   * others are made and packed.
   */
  async makePacked(plan: EpochPlan, epoch: number, start: number, count: number): Promise<PackedSliceData> {
    const examples = this.examples(plan, epoch, start, count);
    const { labels, indices } = examples;
    if (!isPlain(examples.augment)) return packSlice({ pixels: await augmentBatchAsync(batchRequest(plan, epoch, examples)), labels, indices });
    this.packedTraining ??= packImages(this.training.pixels);
    return { packed: selectPacked(this.packedTraining, indices), labels, indices };
  }
}

/** What the kernels make a slice's pixels from. */
function batchRequest(plan: EpochPlan, epoch: number, { augment, images, indices }: { augment: AugmentSettings; images: TrainingSet; indices: Uint32Array }) {
  return { images: images.pixels, indices, spec: augment, seed: plan.seed, epoch, out: new Uint8Array(indices.length * IMAGE_PIXELS) };
}
