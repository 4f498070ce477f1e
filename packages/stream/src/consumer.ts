import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SampleBatchSchema, SliceRequestSchema, type SampleBatch } from "@mnist/protocol";
import { createInbox, type Msg, type NatsConnection, type Subscription } from "nats";
import { InvalidArgument } from "@mnist/errors";
import { AugmentClosedError, AugmentRejectedError, AugmentUnavailableError } from "./errors.js";
import { epochOrder as defaultOrder, IMAGE_PIXELS, MNIST_TRAINING_IMAGES, unpackImagesAsync, type EpochOrder, type EpochPlan } from "@mnist/augment";
import { checkRunId, epochSize } from "@mnist/spec";
import { checkEpoch, checkPlan, checkSourceOptions } from "./local.js";
import { SLICE_SUBJECT } from "./protocol.js";
import { emptyStats, sliceBytes, type EpochOptions, type EpochSlice, type EpochSource, type SourceStats } from "./source.js";

/** The little of a pino logger the source uses. */
export interface SourceLogger {
  warn(fields: object, message: string): void;
  debug?(fields: object, message: string): void;
}

export interface NatsSourceOptions {
  nats: NatsConnection;
  runId: string;
  plan: EpochPlan;
  /** Images in the augment service's training set before trainLimit. Default 50,000 (MNIST). */
  trainingImages?: number;
  /** Examples per slice (one request). Default 1000. */
  sliceSize?: number;
  /** Slices requested and not yet handed to the reader, at most. Default 4. */
  maxInFlight?: number;
  /** Ask again for a slice not complete this long after the last request. Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Give up (AugmentUnavailableError) on a slice not complete this long after its first request. Default 120,000 ms. */
  deliveryTimeoutMs?: number;
  /** Wait before asking again when no replica is subscribed. Default 500 ms. */
  noResponderRetryMs?: number;
  subject?: string;
  order?: EpochOrder;
  logger?: SourceLogger;
  /**
   * The reader is done with a slice's buffers when it asks for the next slice: reuse them for
   * slices still to come instead of allocating (and collecting) a slice's worth of memory each
   * time. For a reader that trains on each slice before the next (the trainer). Default false.
   */
  recycleSlices?: boolean;
  /**
   * Once every slice of an epoch is asked for, ask for the next epoch's first slices with the
   * window's room, so the next epoch starts with data at hand (its order does not depend on
   * anything the epoch decides). Dropped if the next epoch read is another. Default false.
   */
  prefetchNextEpoch?: boolean;
  /** Each reply refused (undecodable, malformed, not for a slice in flight); logged as a warning when absent. */
  onRejected?: (reason: string, fields: Record<string, unknown>) => void;
}

interface PendingSlice {
  slice: number;
  start: number;
  count: number;
  pixels: Uint8Array;
  labels: Uint8Array;
  indices: Uint32Array;
  /** 1 where the example has arrived (its pixels written, or being written). */
  have: Uint8Array;
  /** Examples not yet written. */
  missing: number;
  /** Parts being unpacked into the buffers on the thread pool. */
  writing: number;
  attempts: number;
  firstRequestAt: number;
  timer?: NodeJS.Timeout;
}

interface EpochState {
  generation: number;
  epoch: number;
  order: Uint32Array;
  pending: Map<number, PendingSlice>;
  /** Slices asked for so far (0 .. requested-1). */
  requested: number;
  failure?: Error;
  /** Wakes the reader when a slice completes or the epoch fails. */
  wake?: () => void;
}

/** A full slice's buffers, free for the next slice (recycleSlices). */
interface SliceBuffers {
  pixels: Uint8Array;
  labels: Uint8Array;
  have: Uint8Array;
}

/**
 * The trainer's side of the augment service: reads an epoch as slices pulled from the augment
 * queue group over NATS. Every example arrives exactly once and in the epoch's order, whatever
 * the number, speed or deaths of the replicas: a slice not complete in time is asked for again
 * (any replica recomputes it byte for byte), parts for examples already held are dropped, and
 * at most maxInFlight slices are requested ahead of the reader (the next epoch's prefetched ones
 * included), which bounds memory.
 */
export class NatsEpochSource implements EpochSource {
  readonly size: number;
  readonly sliceSize: number;
  readonly slices: number;
  readonly runId: string;
  private readonly maxInFlight: number;
  private readonly plan: EpochPlan;
  private readonly nats: NatsConnection;
  private readonly subject: string;
  private readonly order: EpochOrder;
  private readonly logger?: SourceLogger;
  private readonly onRejected?: NatsSourceOptions["onRejected"];
  private readonly requestTimeoutMs: number;
  private readonly deliveryTimeoutMs: number;
  private readonly noResponderRetryMs: number;
  private readonly inbox: string;
  private readonly subscription: Subscription;
  private readonly counters = emptyStats();
  private readonly recycleSlices: boolean;
  private readonly prefetchNextEpoch: boolean;
  private readonly free: SliceBuffers[] = [];
  private generation = 0;
  /** The epoch being read, and the next one's slices asked for ahead of it. */
  private state?: EpochState;
  private ahead?: EpochState;
  private closed = false;

  constructor(options: NatsSourceOptions) {
    const { sliceSize, maxInFlight } = checkSourceOptions(options);
    this.runId = checkRunId(options.runId);
    this.plan = checkPlan(options.plan);
    const trainingImages = options.trainingImages ?? MNIST_TRAINING_IMAGES;
    if (!Number.isInteger(trainingImages) || trainingImages < 1) throw new InvalidArgument("trainingImages", trainingImages, "a positive integer");
    if (this.plan.trainLimit > trainingImages) throw new InvalidArgument("plan.trainLimit", this.plan.trainLimit, `an integer from 0 (all) to ${trainingImages}`);
    this.size = epochSize(this.plan.trainLimit || trainingImages, this.plan.augment);
    this.sliceSize = sliceSize;
    this.slices = Math.ceil(this.size / sliceSize);
    this.maxInFlight = maxInFlight;
    this.nats = options.nats;
    this.subject = options.subject ?? SLICE_SUBJECT;
    this.order = options.order ?? defaultOrder;
    this.logger = options.logger;
    this.onRejected = options.onRejected;
    this.requestTimeoutMs = positive("requestTimeoutMs", options.requestTimeoutMs ?? 5000);
    this.deliveryTimeoutMs = positive("deliveryTimeoutMs", options.deliveryTimeoutMs ?? 120_000);
    this.noResponderRetryMs = positive("noResponderRetryMs", options.noResponderRetryMs ?? 500);
    this.recycleSlices = options.recycleSlices ?? false;
    this.prefetchNextEpoch = options.prefetchNextEpoch ?? false;
    this.inbox = createInbox();
    this.subscription = this.nats.subscribe(`${this.inbox}.>`, { callback: (error, message) => (error ? this.failAll(error) : this.receive(message)) });
  }

  stats(): SourceStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new AugmentClosedError("the epoch source is closed"));
    if (this.ahead) this.drop(this.ahead);
    this.subscription.unsubscribe();
  }

  async *epoch(epoch: number, options: EpochOptions = {}): AsyncGenerator<EpochSlice, void, undefined> {
    checkEpoch(epoch);
    if (this.closed) throw new AugmentClosedError("the epoch source is closed");
    if (this.state) throw new InvalidArgument("epoch", epoch, "one epoch at a time: finish or abandon the previous one first");
    // A prefetch for another epoch, or one that failed (augment was away while the reader was), is dropped.
    let state = this.ahead;
    this.ahead = undefined;
    if (state && (state.epoch !== epoch || state.failure)) state = this.drop(state);
    state ??= this.newState(epoch);
    this.state = state;
    const onAbort = () => this.fail(state, new AugmentClosedError(`epoch ${epoch} aborted`));
    options.signal?.addEventListener("abort", onAbort);
    if (options.signal?.aborted) onAbort();
    try {
      for (let next = 0; next < this.slices; next++) {
        this.fill(state);
        const done = await this.complete(state, next);
        this.release(state, done);
        this.counters.slicesDelivered++;
        this.counters.examplesDelivered += done.count;
        yield { epoch, slice: done.slice, start: done.start, count: done.count, pixels: done.pixels, labels: done.labels, indices: done.indices };
        this.recycle(done);
      }
      this.fill(state); // the whole window for the next epoch's slices now
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      this.drop(state);
      if (this.state === state) this.state = undefined;
    }
  }

  private newState(epoch: number): EpochState {
    const order = this.order(this.plan.seed, epoch, this.size);
    if (order.length !== this.size) throw new Error(`epoch order has ${order.length} entries for ${this.size} examples`);
    return { generation: ++this.generation, epoch, order, pending: new Map(), requested: 0 };
  }

  /** Asks for the epoch's next slices while the window has room, then for the next epoch's (prefetchNextEpoch). */
  private fill(state: EpochState): void {
    const inFlight = () => state.pending.size + (this.ahead?.pending.size ?? 0);
    while (state.requested < this.slices && inFlight() < this.maxInFlight) this.open(state, state.requested++);
    if (!this.prefetchNextEpoch || state.requested < this.slices || state.epoch >= 0xffff_ffff) return;
    const ahead = (this.ahead ??= this.newState(state.epoch + 1));
    while (ahead.requested < this.slices && inFlight() < this.maxInFlight) this.open(ahead, ahead.requested++);
  }

  /** Forgets a state that will not be read (nothing is written for it after): its slices' timers and memory. */
  private drop(state: EpochState): undefined {
    for (const pending of [...state.pending.values()]) {
      this.release(state, pending);
      this.recycle(pending);
    }
    return undefined;
  }

  /** A slice's buffers, once neither the reader nor a reply writes them, for a slice to come. */
  private recycle(slice: PendingSlice): void {
    if (this.recycleSlices && slice.count === this.sliceSize && slice.writing === 0) this.free.push({ pixels: slice.pixels, labels: slice.labels, have: slice.have });
  }

  /** Allocates a slice's buffers and asks for it. */
  private open(state: EpochState, slice: number): void {
    const start = slice * this.sliceSize;
    const count = Math.min(this.sliceSize, this.size - start);
    const reused = count === this.sliceSize ? this.free.pop() : undefined;
    reused?.have.fill(0);
    const pending: PendingSlice = {
      slice,
      start,
      count,
      pixels: reused?.pixels ?? new Uint8Array(count * IMAGE_PIXELS),
      labels: reused?.labels ?? new Uint8Array(count),
      indices: state.order.slice(start, start + count),
      have: reused?.have ?? new Uint8Array(count),
      missing: count,
      writing: 0,
      attempts: 0,
      firstRequestAt: Date.now(),
    };
    state.pending.set(slice, pending);
    const stats = this.counters;
    stats.inFlightSlices++;
    stats.inFlightBytes += sliceBytes(count);
    stats.maxInFlightSlices = Math.max(stats.maxInFlightSlices, stats.inFlightSlices);
    stats.maxInFlightBytes = Math.max(stats.maxInFlightBytes, stats.inFlightBytes);
    this.request(state, pending);
  }

  private release(state: EpochState, pending: PendingSlice): void {
    if (!state.pending.delete(pending.slice)) return;
    clearTimeout(pending.timer);
    this.counters.inFlightSlices--;
    this.counters.inFlightBytes -= sliceBytes(pending.count);
  }

  private request(state: EpochState, pending: PendingSlice): void {
    if (state.failure) return;
    pending.attempts++;
    this.counters.requests++;
    if (pending.attempts > 1) this.counters.reRequests++;
    const message = create(SliceRequestSchema, {
      runId: this.runId,
      seed: this.plan.seed,
      epoch: state.epoch,
      slice: pending.slice,
      start: pending.start,
      count: pending.count,
      trainLimit: this.plan.trainLimit,
      augment: this.plan.augment,
    });
    try {
      this.nats.publish(this.subject, toBinary(SliceRequestSchema, message), { reply: `${this.inbox}.${state.generation}.${pending.slice}.${pending.attempts}` });
    } catch (error) {
      // A closed or draining connection: the timer below retries until the delivery deadline.
      this.logger?.warn({ err: error, run: this.runId, epoch: state.epoch, slice: pending.slice }, "augment request not sent");
    }
    this.arm(state, pending, this.requestTimeoutMs);
  }

  private arm(state: EpochState, pending: PendingSlice, delayMs: number): void {
    clearTimeout(pending.timer);
    pending.timer = setTimeout(() => {
      if (state.pending.get(pending.slice) !== pending || pending.missing === 0 || state.failure) return;
      const waited = Date.now() - pending.firstRequestAt;
      if (waited >= this.deliveryTimeoutMs) {
        this.fail(state, new AugmentUnavailableError(this.runId, state.epoch, pending.slice, waited, pending.attempts));
        return;
      }
      this.logger?.warn({ run: this.runId, epoch: state.epoch, slice: pending.slice, attempt: pending.attempts + 1, missing: pending.missing }, "augment slice late, asking again");
      this.request(state, pending);
    }, delayMs);
  }

  private complete(state: EpochState, slice: number): Promise<PendingSlice> {
    return new Promise((resolve, reject) => {
      const check = () => {
        state.wake = undefined;
        if (state.failure) return reject(state.failure);
        const pending = state.pending.get(slice);
        if (!pending) return reject(new Error(`slice ${slice} is not in flight`));
        if (pending.missing === 0) return resolve(pending);
        state.wake = check;
      };
      check();
    });
  }

  private failAll(error: Error): void {
    for (const state of [this.state, this.ahead]) if (state) this.fail(state, error);
  }

  private fail(state: EpochState, error: Error): void {
    if (state.failure) return;
    state.failure = error;
    for (const pending of state.pending.values()) clearTimeout(pending.timer);
    state.wake?.();
  }

  private reject(reason: string, fields: Record<string, unknown>): void {
    this.counters.rejectedMessages++;
    if (this.onRejected) this.onRejected(reason, { run: this.runId, ...fields });
    else this.logger?.warn({ run: this.runId, reason, ...fields }, "augment reply rejected");
  }

  /** One message on the inbox: a part (or an error, or "no responders") for `<generation>.<slice>.<attempt>`. */
  private receive(message: Msg): void {
    const tokens = message.subject.slice(this.inbox.length + 1).split(".");
    const generation = Number(tokens[0]);
    const slice = Number(tokens[1]);
    const state = [this.state, this.ahead].find((candidate) => candidate?.generation === generation);
    if (!state) {
      this.counters.staleMessages++;
      return;
    }
    const pending = state.pending.get(slice);
    if (message.headers?.code === 503) {
      this.counters.noResponders++;
      if (pending && pending.missing > 0) this.arm(state, pending, this.noResponderRetryMs);
      return;
    }
    if (!Number.isInteger(slice) || slice < 0 || slice >= this.slices) return this.reject("reply subject names no slice", { subject: message.subject });
    let batch: SampleBatch;
    try {
      batch = fromBinary(SampleBatchSchema, message.data);
    } catch (error) {
      return this.reject("undecodable", { epoch: state.epoch, slice, bytes: message.data.length, detail: String(error) });
    }
    if (batch.runId !== this.runId || batch.epoch !== state.epoch || batch.slice !== slice) {
      return this.reject("wrong run, epoch or slice", { epoch: state.epoch, slice, got: { run: batch.runId, epoch: batch.epoch, slice: batch.slice } });
    }
    if (batch.error !== "") {
      this.fail(state, new AugmentRejectedError(this.runId, state.epoch, slice, batch.error));
      return;
    }
    if (!pending) {
      // Already delivered to the reader (a late or duplicate answer): exactly once means drop it.
      if (slice < this.slices) this.counters.duplicateParts++;
      return;
    }
    const k = batch.indices.length;
    if (k === 0 || batch.offset + k > pending.count || batch.labels.length !== k) {
      return this.reject("malformed part", { epoch: state.epoch, slice, offset: batch.offset, examples: k, labels: batch.labels.length });
    }
    for (let t = 0; t < k; t++) {
      if (batch.indices[t] !== pending.indices[batch.offset + t] || batch.labels[t]! > 9) {
        return this.reject("indices or labels differ from the epoch order", { epoch: state.epoch, slice, offset: batch.offset + t });
      }
    }
    // The examples not held yet are this part's from now on; their pixels are unpacked straight
    // into the slice's buffer on the thread pool, off the event loop the trainer also answers on.
    // The bytes are checked before anything is queued or marked.
    const held = pending.have.subarray(batch.offset, batch.offset + k);
    if (held.every((had) => had === 1)) {
      this.counters.duplicateParts++;
      return;
    }
    let written: Promise<void>;
    try {
      written = unpackImagesAsync(batch.packedPixels, k, pending.pixels, batch.offset, held);
    } catch {
      return this.reject("malformed part", { epoch: state.epoch, slice, offset: batch.offset, examples: k, packedBytes: batch.packedPixels.length });
    }
    let added = 0;
    for (let t = 0; t < k; t++) {
      if (held[t]) continue;
      held[t] = 1;
      pending.labels[batch.offset + t] = batch.labels[t]!;
      added++;
    }
    if (added < k) this.counters.duplicateParts++;
    pending.writing++;
    written.then(
      () => {
        pending.writing--;
        pending.missing -= added;
        if (pending.missing === 0 && state.pending.get(slice) === pending) {
          clearTimeout(pending.timer);
          state.wake?.();
        }
      },
      (error: unknown) => {
        pending.writing--;
        this.fail(state, error instanceof Error ? error : new Error(String(error)));
      },
    );
  }
}

function positive(field: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgument(field, value, "a positive number of milliseconds");
  return value;
}
