import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, GrpcStatusError, status, type Client } from "@mnist/grpc";
import { Decision, RunSpecSchema, TrainerService } from "@mnist/protocol";
import { waitForLog } from "../harness/cluster.js";
import { startNatsServer, type NatsServer } from "../harness/nats-server.js";
import { startService, type StartedService } from "../harness/services.js";

// The trainer's control plane on its own, with this test in the evaluator's seat.
let nats: NatsServer;
let augment: StartedService;
let trainer: StartedService;
let client: Client<typeof TrainerService>;
const spec = create(RunSpecSchema, { sizes: [784, 10, 10], trainLimit: 1000, epochs: 100 });
const trained = (runId: string) => trainer.logs.filter((line) => line.msg === "epoch trained" && line.run === runId).map((line) => line.epoch as number);
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as GrpcStatusError,
  );

beforeAll(async () => {
  nats = await startNatsServer();
  augment = await startService("augment", { NATS_URL: nats.url });
  trainer = await startService("trainer", { NATS_URL: nats.url, TRAINER_MAX_RUNS: "1", TRAINER_ID: "trainer-under-test" });
  client = createClient(TrainerService, trainer.address);
}, 60_000);
afterAll(async () => {
  client?.close();
  for (const service of [trainer, augment]) service?.child.kill("SIGTERM");
  await Promise.all([trainer?.exited, augment?.exited]);
  await nats?.stop();
});

describe("TrainerService", () => {
  it("trains one epoch, waits for the decision, holds a paused run at the next epoch, resumes it and stops", async () => {
    const started = await client.startRun({ runId: "run-a", spec });
    expect(started).toMatchObject({ trainerId: "trainer-under-test", startEpoch: 0 });
    expect((await client.startRun({ runId: "run-a", spec })).startEpoch).toBe(0); // idempotent

    await waitForLog(trainer, (line) => line.msg === "epoch trained" && line.run === "run-a" && line.epoch === 0);
    await client.pauseRun({ runId: "run-a" });
    await client.decide({ runId: "run-a", epoch: 0, decision: Decision.DECAY_ETA, eta: 0.25, reason: "" });
    // The decision lets the loop on to epoch 1, where the pause stops it: "run paused" is the
    // loop's own line at that gate, so its log shows whatever it trained before getting there.
    await waitForLog(trainer, (line) => line.msg === "run paused" && line.run === "run-a" && line.epoch === 1);
    expect(trained("run-a")).toEqual([0]); // no decision, no next epoch
    const paused = await client.getStatus({});
    expect(paused.runs).toEqual([expect.objectContaining({ runId: "run-a", epoch: 1, eta: 0.25, paused: true })]);

    // Changed while the run is held: an epoch 1 begun before this call, without the decision or
    // despite the pause, would have trained with 0.5 or 0.25.
    await client.setLearningRate({ runId: "run-a", eta: 0.125 });
    await client.resumeRun({ runId: "run-a" });
    const second = await waitForLog(trainer, (line) => line.msg === "epoch trained" && line.run === "run-a" && line.epoch === 1);
    expect(second.eta).toBe(0.125);
    expect(trained("run-a")).toEqual([0, 1]);

    // And a decided eta is the one the next epoch trains with.
    await client.decide({ runId: "run-a", epoch: 1, decision: Decision.DECAY_ETA, eta: 0.0625, reason: "" });
    const third = await waitForLog(trainer, (line) => line.msg === "epoch trained" && line.run === "run-a" && line.epoch === 2);
    expect(third.eta).toBe(0.0625);

    await client.stopTraining({ runId: "run-a", reason: "test over" });
    expect((await client.getStatus({})).runs).toEqual([]);
  });

  it("refuses a run beyond TRAINER_MAX_RUNS, a bad spec, and calls for runs it does not hold", async () => {
    await client.startRun({ runId: "run-b", spec });
    expect((await failure(client.startRun({ runId: "run-c", spec })))?.code).toBe(status.RESOURCE_EXHAUSTED);
    const bad = await failure(client.startRun({ runId: "run-d", spec: create(RunSpecSchema, { sizes: [784, 10, 10], eta: -1 }) }));
    expect(bad?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad?.message).toBe("spec.eta is -1; allowed: a learning rate from 1e-20 to 1000000");
    expect((await failure(client.startRun({ runId: "bad id!", spec })))?.code).toBe(status.INVALID_ARGUMENT);
    for (const call of [
      () => client.decide({ runId: "run-x", epoch: 0, decision: Decision.CONTINUE, eta: 0.5 }),
      () => client.pauseRun({ runId: "run-x" }),
      () => client.stopTraining({ runId: "run-x" }),
    ]) {
      expect((await failure(call()))?.code).toBe(status.NOT_FOUND);
    }
    const badDecision = await failure(client.decide({ runId: "run-b", epoch: 0, decision: Decision.CONTINUE, eta: 0 }));
    expect(badDecision?.message).toBe("eta is 0; allowed: a learning rate greater than 0 and at most 1000000");
    await client.stopTraining({ runId: "run-b" });
  });
});
