import { Counter, Gauge, Histogram, type Registry } from "@mnist/runtime";

/** The trainer's Prometheus series. */
export interface TrainerMetrics {
  runs: Gauge;
  epochSeconds: Histogram;
  imagesPerSecond: Gauge<"run">;
  waitSeconds: Counter;
  slicesRerequested: Counter;
  checkpoints: Counter;
  epochs: Counter;
}

/** `runsTraining` is read at each scrape. */
export function trainerMetrics(registry: Registry, runsTraining: () => number): TrainerMetrics {
  const registers = [registry];
  return {
    runs: new Gauge({
      name: "mnist_trainer_runs",
      help: "Runs this trainer holds (training, or waiting for a decision).",
      registers,
      collect() {
        this.set(runsTraining());
      },
    }),
    epochSeconds: new Histogram({
      name: "mnist_trainer_epoch_seconds",
      help: "Seconds to train one epoch, waiting for data included.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    imagesPerSecond: new Gauge({ name: "mnist_trainer_images_per_second", help: "Images per second of each run's last epoch.", labelNames: ["run"], registers }),
    waitSeconds: new Counter({ name: "mnist_trainer_data_wait_seconds_total", help: "Seconds spent waiting for the augment service's slices.", registers }),
    slicesRerequested: new Counter({ name: "mnist_trainer_slices_rerequested_total", help: "Slices asked for again (late or lost replies).", registers }),
    checkpoints: new Counter({ name: "mnist_trainer_checkpoints_written_total", help: "Epoch checkpoints stored and announced.", registers }),
    epochs: new Counter({ name: "mnist_trainer_epochs_trained_total", help: "Epochs trained.", registers }),
  };
}
