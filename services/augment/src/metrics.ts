import { Counter, Gauge, Histogram, type Registry } from "@mnist/runtime";

/** The augment replica's Prometheus series. */
export interface AugmentMetrics {
  slices: Counter;
  images: Counter;
  /** Seconds to make one slice: gather, distort and pack its examples. */
  sliceSeconds: Histogram;
  rejected: Counter<"reason">;
  queued: Gauge;
  inFlight: Gauge;
}

export function augmentMetrics(registry: Registry): AugmentMetrics {
  const registers = [registry];
  return {
    slices: new Counter({ name: "mnist_augment_slices_served_total", help: "Slices of examples served to trainers.", registers }),
    images: new Counter({ name: "mnist_augment_images_served_total", help: "Examples (images) served to trainers.", registers }),
    sliceSeconds: new Histogram({
      name: "mnist_augment_slice_seconds",
      help: "Seconds to make one slice: gather, distort and pack its examples.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    rejected: new Counter({ name: "mnist_augment_requests_rejected_total", help: "Slice requests refused, by reason.", labelNames: ["reason"], registers }),
    queued: new Gauge({ name: "mnist_augment_queue_depth", help: "Accepted slice requests waiting for a free slot.", registers }),
    inFlight: new Gauge({ name: "mnist_augment_slices_in_flight", help: "Slices being made now.", registers }),
  };
}
