import { fromBinary } from "@bufbuild/protobuf";
import { augmentStatsIntervalMs, publishAugmentStats } from "@mnist/cluster";
import { InvalidArgument } from "@mnist/errors";
import { type SliceMaker } from "@mnist/augment";
import { AUGMENT_QUEUE, checkSliceRequest, encodeError, encodeParts, MAX_REQUEST_BYTES, SLICE_SUBJECT, type CheckedSliceRequest } from "@mnist/stream";
import { SliceRequestSchema, type SliceRequest } from "@mnist/protocol";
import type { Logger } from "@mnist/runtime";
import type { Msg, NatsConnection, Subscription } from "nats";
import type { AugmentMetrics } from "./metrics.js";

export interface WorkerConfig {
  /** Slices made at once (on the libuv thread pool). */
  concurrency: number;
  /** The most examples one request may ask for. */
  maxSliceExamples: number;
  /** Accepted requests waiting for a free slot, at most; more are dropped (the consumer asks again). */
  maxQueue: number;
  /** Each reply part stays under this and under the server's max_payload. */
  maxPartBytes: number;
  statsIntervalMs: number;
  subject?: string;
  /** The name its reports on `mnist.augment.stats.<id>` carry. */
  replicaId: string;
}

export type RejectReason = "oversize" | "undecodable" | "invalid" | "no-reply-subject" | "busy" | "failed";

export interface WorkerStats {
  received: number;
  served: number;
  images: number;
  rejected: number;
  rejects: Record<RejectReason, number>;
  inFlight: number;
  queued: number;
}

interface Job {
  message: Msg;
  request: CheckedSliceRequest;
}

/** Most reject lines logged per stats interval; the rest are only counted. */
const REJECT_LOG_BUDGET = 20;

/**
 * One augment replica: answers SliceRequests from the queue group with SampleBatch parts.
 * Malformed requests are logged, counted and answered with an error part where there is a reply
 * subject; nothing a client sends can stop it.
 */
export class AugmentWorker {
  private readonly counters: WorkerStats = {
    received: 0,
    served: 0,
    images: 0,
    rejected: 0,
    rejects: { oversize: 0, undecodable: 0, invalid: 0, "no-reply-subject": 0, busy: 0, failed: 0 },
    inFlight: 0,
    queued: 0,
  };
  private readonly queue: Job[] = [];
  private subscription?: Subscription;
  private timer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  private lastPublished = { at: Date.now(), images: 0 };
  private idle?: () => void;
  private rejectLogBudget = REJECT_LOG_BUDGET;
  private lastReport = { at: Date.now(), images: 0, received: 0, rejected: 0 };
  private readonly maxPartBytes: number;

  constructor(
    private readonly nats: NatsConnection,
    private readonly logger: Logger,
    private readonly maker: SliceMaker,
    private readonly config: WorkerConfig,
    private readonly metrics?: AugmentMetrics,
  ) {
    metrics?.queued.set(0);
    metrics?.inFlight.set(0);
    this.maxPartBytes = Math.min(config.maxPartBytes, nats.info?.max_payload ?? config.maxPartBytes);
  }

  start(): void {
    const subject = this.config.subject ?? SLICE_SUBJECT;
    this.subscription = this.nats.subscribe(subject, {
      queue: AUGMENT_QUEUE,
      callback: (error, message) => {
        if (error) {
          this.logger.error({ err: error }, "augment subscription error");
          return;
        }
        try {
          this.accept(message);
        } catch (failure) {
          this.reject(message, "failed", String(failure), undefined);
        }
      },
    });
    this.timer = setInterval(() => this.report("augment stats"), this.config.statsIntervalMs);
    this.timer.unref();
    this.statsTimer = setInterval(() => this.publishStats(), augmentStatsIntervalMs);
    this.statsTimer.unref();
    this.publishStats();
    this.logger.info(
      { replica: this.config.replicaId, subject, queue: AUGMENT_QUEUE, concurrency: this.config.concurrency, maxPartBytes: this.maxPartBytes, trainingImages: this.maker.training.count },
      "augment serving slices",
    );
  }

  stats(): WorkerStats {
    return { ...this.counters, rejects: { ...this.counters.rejects }, inFlight: this.counters.inFlight, queued: this.queue.length };
  }

  /** Stops taking requests, finishes every accepted one (replies included), then returns. */
  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    clearInterval(this.timer);
    clearInterval(this.statsTimer);
    if (this.counters.inFlight > 0 || this.queue.length > 0) {
      this.logger.info({ inFlight: this.counters.inFlight, queued: this.queue.length }, "augment finishing accepted requests");
      await new Promise<void>((resolve) => (this.idle = resolve));
    }
    await this.nats.flush().catch(() => undefined);
    this.report("augment stopped", true);
  }

  private accept(message: Msg): void {
    this.counters.received++;
    if (message.data.length > MAX_REQUEST_BYTES) {
      return this.reject(message, "oversize", `request of ${message.data.length} bytes; at most ${MAX_REQUEST_BYTES}`, undefined);
    }
    let decoded: SliceRequest;
    try {
      decoded = fromBinary(SliceRequestSchema, message.data);
    } catch (error) {
      return this.reject(message, "undecodable", `not a mnist.v1.SliceRequest: ${error instanceof Error ? error.message : String(error)}`, undefined);
    }
    let request: CheckedSliceRequest;
    try {
      request = checkSliceRequest(decoded, { trainingImages: this.maker.training.count, maxSliceExamples: this.config.maxSliceExamples });
    } catch (error) {
      if (!(error instanceof InvalidArgument)) throw error;
      return this.reject(message, "invalid", error.message, decoded);
    }
    if (!message.reply) return this.reject(message, "no-reply-subject", "a request needs a reply subject", decoded);
    if (this.queue.length >= this.config.maxQueue) return this.reject(message, "busy", `${this.queue.length} requests queued already`, undefined);
    this.queue.push({ message, request });
    this.pump();
    this.metrics?.queued.set(this.queue.length);
  }

  private pump(): void {
    while (this.counters.inFlight < this.config.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.counters.inFlight++;
      this.metrics?.queued.set(this.queue.length);
      this.metrics?.inFlight.set(this.counters.inFlight);
      void this.serve(job).finally(() => {
        this.counters.inFlight--;
        this.metrics?.inFlight.set(this.counters.inFlight);
        this.pump();
        if (this.counters.inFlight === 0 && this.queue.length === 0) this.idle?.();
      });
    }
  }

  private async serve({ message, request }: Job): Promise<void> {
    try {
      const making = this.metrics?.sliceSeconds.startTimer();
      const data = await this.maker.makePacked(request.plan, request.epoch, request.start, request.count);
      making?.();
      for (const part of encodeParts(request, data, this.maxPartBytes)) message.respond(part);
      this.counters.served++;
      this.counters.images += request.count;
      this.metrics?.slices.inc();
      this.metrics?.images.inc(request.count);
      this.logger.debug({ run: request.runId, epoch: request.epoch, slice: request.slice, start: request.start, count: request.count }, "slice served");
    } catch (error) {
      this.logger.error({ err: error, run: request.runId, epoch: request.epoch, slice: request.slice }, "slice failed");
      this.reject(message, "failed", error instanceof Error ? error.message : String(error), request);
    }
  }

  private reject(message: Msg, reason: RejectReason, detail: string, request: Pick<SliceRequest, "runId" | "epoch" | "slice"> | undefined): void {
    this.counters.rejected++;
    this.counters.rejects[reason]++;
    this.metrics?.rejected.inc({ reason });
    if (this.rejectLogBudget > 0) {
      this.rejectLogBudget--;
      this.logger.warn({ reason, detail, bytes: message.data.length, run: request?.runId, epoch: request?.epoch, slice: request?.slice, rejected: this.counters.rejected }, "augment request rejected");
    }
    // A dropped "busy" request gets no answer: the consumer's timer asks again, maybe of another replica.
    if (!message.reply || reason === "busy") return;
    try {
      message.respond(encodeError({ runId: request?.runId ?? "", epoch: request?.epoch ?? 0, slice: request?.slice ?? 0 }, `${reason}: ${detail}`));
    } catch (error) {
      this.logger.warn({ err: error }, "augment error reply not sent");
    }
  }

  /** Tells whoever watches the cluster (the evaluator's dashboard) what this replica is doing. */
  private publishStats(): void {
    const now = Date.now();
    const c = this.counters;
    const seconds = Math.max(1e-3, (now - this.lastPublished.at) / 1000);
    const imagesPerSecond = (c.images - this.lastPublished.images) / seconds;
    this.lastPublished = { at: now, images: c.images };
    if (this.nats.isClosed()) return;
    publishAugmentStats(this.nats, {
      replicaId: this.config.replicaId,
      slicesServed: BigInt(c.served),
      imagesServed: BigInt(c.images),
      imagesPerSecond,
      queued: this.queue.length,
      inFlight: c.inFlight,
      rejected: BigInt(c.rejected),
      concurrency: this.config.concurrency,
    });
  }

  private report(message: string, always = false): void {
    const now = Date.now();
    const c = this.counters;
    const changed = c.received !== this.lastReport.received || c.images !== this.lastReport.images || c.rejected !== this.lastReport.rejected;
    if (changed || always) {
      const seconds = Math.max(1e-3, (now - this.lastReport.at) / 1000);
      this.logger.info(
        {
          requests: c.received,
          served: c.served,
          images: c.images,
          imagesPerSecond: Math.round((c.images - this.lastReport.images) / seconds),
          rejected: c.rejected,
          rejects: { ...c.rejects },
          inFlight: c.inFlight,
          queued: this.queue.length,
        },
        message,
      );
    }
    this.lastReport = { at: now, images: c.images, received: c.received, rejected: c.rejected };
    this.rejectLogBudget = REJECT_LOG_BUDGET;
  }
}
