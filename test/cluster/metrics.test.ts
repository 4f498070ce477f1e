import { connect as connectTcp, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";
import type { StartedService } from "../harness/services.js";

/**
 * Prometheus metrics: every service serves GET /metrics on METRICS_PORT (0 here: any free port,
 * named in its ready line), its default process metrics and its own series, which move as a run
 * goes through.
 */

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ env: { METRICS_PORT: "0" } });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

function metricsUrl(service: StartedService): string {
  const ready = service.logs.find((line) => line.msg === "ready")!;
  const port = String(ready.metrics).split(":").at(-1);
  return `http://127.0.0.1:${port}/metrics`;
}

/** The samples of a scrape, by series (name and labels as written). */
async function scrape(service: StartedService): Promise<Map<string, number>> {
  const response = await fetch(metricsUrl(service));
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

const value = (samples: Map<string, number>, series: string) => samples.get(series) ?? 0;

describe("Prometheus metrics", () => {
  it("every service serves its process metrics and its own, labelled with its name; other paths are 404", async () => {
    for (const [service, name] of [
      [cluster.augment, "augment"],
      [cluster.trainers[0]!, "trainer"],
      [cluster.evaluator, "evaluator"],
    ] as const) {
      const samples = await scrape(service);
      expect(value(samples, `process_cpu_user_seconds_total{service="${name}"}`), name).toBeGreaterThan(0);
      expect([...samples.keys()].some((series) => series.startsWith(`mnist_${name}_`)), name).toBe(true);
      expect((await fetch(metricsUrl(service).replace("/metrics", "/other"))).status).toBe(404);
    }
  });

  it("holds at most 64 connections: the next is closed at once, and a slot that frees is usable again", async () => {
    const port = Number(new URL(metricsUrl(cluster.augment)).port);
    const open = (): Promise<Socket> => new Promise((resolve, reject) => connectTcp(port, "127.0.0.1").once("connect", function (this: Socket) { resolve(this); }).once("error", reject));
    const held = await Promise.all(Array.from({ length: 64 }, open));
    const extra = await open();
    await new Promise((resolve) => extra.once("close", resolve));
    held.pop()!.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(metricsUrl(cluster.augment))).status).toBe(200);
    for (const socket of held) socket.destroy();
  });

  it("the series move as a run goes through: slices served, epochs trained, decisions taken", async () => {
    const [augmentBefore, trainerBefore, evaluatorBefore] = await Promise.all([scrape(cluster.augment), scrape(cluster.trainers[0]!), scrape(cluster.evaluator)]);
    const launched = await cluster.cli(["run", "--sizes", "784,10,10", "--train-limit", "2000", "--epochs", "3", "--follow", "--json"]);
    expect(launched.stderr).toBe("");
    const runId = String(JSON.parse(launched.stdout.split("\n")[0]!).run);
    // The record ends before the trainer hears the last decision: wait for it to let the run go.
    await waitForLog(cluster.trainers[0]!, (line) => line.msg === "run stopped by the evaluator" && line.run === runId);
    const [augment, trainer, evaluator] = await Promise.all([scrape(cluster.augment), scrape(cluster.trainers[0]!), scrape(cluster.evaluator)]);
    const moved = (after: Map<string, number>, before: Map<string, number>, series: string) => value(after, series) - value(before, series);

    // 3 epochs of 2,000 images, in slices of 2,000 (whole mini-batches, at most NATS_SLICE_EXAMPLES).
    expect(moved(augment, augmentBefore, 'mnist_augment_images_served_total{service="augment"}')).toBeGreaterThanOrEqual(6_000);
    expect(moved(augment, augmentBefore, 'mnist_augment_slices_served_total{service="augment"}')).toBeGreaterThanOrEqual(3);
    expect(moved(augment, augmentBefore, 'mnist_augment_slice_seconds_count{service="augment"}')).toBeGreaterThanOrEqual(3);
    expect(value(augment, 'mnist_augment_queue_depth{service="augment"}')).toBe(0);

    expect(moved(trainer, trainerBefore, 'mnist_trainer_epochs_trained_total{service="trainer"}')).toBe(3);
    expect(moved(trainer, trainerBefore, 'mnist_trainer_checkpoints_written_total{service="trainer"}')).toBe(3);
    expect(moved(trainer, trainerBefore, 'mnist_trainer_epoch_seconds_count{service="trainer"}')).toBe(3);
    expect(moved(trainer, trainerBefore, 'mnist_trainer_data_wait_seconds_total{service="trainer"}')).toBeGreaterThan(0);
    expect(value(trainer, 'mnist_trainer_runs{service="trainer"}')).toBe(0);
    // A run's gauge goes with it.
    expect([...trainer.keys()].some((series) => series.includes(runId))).toBe(false);

    expect(moved(evaluator, evaluatorBefore, 'mnist_evaluator_decisions_total{decision="continue",service="evaluator"}')).toBe(2);
    expect(moved(evaluator, evaluatorBefore, 'mnist_evaluator_decisions_total{decision="stop",service="evaluator"}')).toBe(1);
    expect(moved(evaluator, evaluatorBefore, 'mnist_evaluator_runs_ended_total{state="finished",service="evaluator"}')).toBe(1);
    expect(moved(evaluator, evaluatorBefore, 'mnist_evaluator_placement_seconds_count{service="evaluator"}')).toBe(1);
    expect(value(evaluator, 'mnist_evaluator_runs{state="running",service="evaluator"}')).toBe(0);
    expect([...evaluator.keys()].some((series) => series.includes(runId))).toBe(false);
  });

  it("shows a running run's latest validation accuracy while it trains", async () => {
    const launched = await cluster.cli(["run", "--sizes", "784,10,10", "--train-limit", "2000", "--epochs", "1000"]);
    const runId = launched.stdout.trim();
    await waitForLog(cluster.evaluator, (line) => line.msg === "epoch" && line.run === runId && line.epoch === 1);
    const evaluator = await scrape(cluster.evaluator);
    const accuracy = value(evaluator, `mnist_evaluator_run_val_accuracy{run="${runId}",service="evaluator"}`);
    expect(accuracy).toBeGreaterThan(0.1);
    expect(accuracy).toBeLessThanOrEqual(1);
    expect(value(evaluator, 'mnist_evaluator_runs{state="running",service="evaluator"}')).toBe(1);
    expect(value(await scrape(cluster.trainers[0]!), 'mnist_trainer_runs{service="trainer"}')).toBe(1);
    await cluster.cli(["stop", runId]);
    const after = await scrape(cluster.evaluator);
    expect(value(after, 'mnist_evaluator_runs_ended_total{state="stopped",service="evaluator"}')).toBe(1);
    expect([...after.keys()].some((series) => series.includes(runId))).toBe(false);
  });
});
