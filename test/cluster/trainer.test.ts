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
    const started = await client.startRun({ runId: "run-a", spec, generation: 1 });
    expect(started).toMatchObject({ trainerId: "trainer-under-test", startEpoch: 0 });
    expect((await client.startRun({ runId: "run-a", spec, generation: 1 })).startEpoch).toBe(0); // idempotent

    await waitForLog(trainer, (line) => line.msg === "epoch trained" && line.run === "run-a" && line.epoch === 0);
    await client.pauseRun({ runId: "run-a" });
    await client.decide({ runId: "run-a", epoch: 0, decision: Decision.DECAY_ETA, eta: 0.25, reason: "", generation: 1 });
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
    await client.decide({ runId: "run-a", epoch: 1, decision: Decision.DECAY_ETA, eta: 0.0625, reason: "", generation: 1 });
    const third = await waitForLog(trainer, (line) => line.msg === "epoch trained" && line.run === "run-a" && line.epoch === 2);
    expect(third.eta).toBe(0.0625);

    await client.stopTraining({ runId: "run-a", reason: "test over" });
    expect((await client.getStatus({})).runs).toEqual([]);
  });

  it("refuses a run beyond TRAINER_MAX_RUNS, a bad spec, and calls for runs it does not hold", async () => {
    await client.startRun({ runId: "run-b", spec, generation: 1 });
    expect((await failure(client.startRun({ runId: "run-c", spec, generation: 1 })))?.code).toBe(status.RESOURCE_EXHAUSTED);
    const bad = await failure(client.startRun({ runId: "run-d", spec: create(RunSpecSchema, { sizes: [784, 10, 10], eta: -1 }), generation: 1 }));
    expect(bad?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad?.message).toBe("spec.eta is -1; allowed: a learning rate from 1e-20 to 1000000");
    expect((await failure(client.startRun({ runId: "bad id!", spec, generation: 1 })))?.code).toBe(status.INVALID_ARGUMENT);
    for (const call of [
      () => client.decide({ runId: "run-x", epoch: 0, decision: Decision.CONTINUE, eta: 0.5, generation: 1 }),
      () => client.pauseRun({ runId: "run-x" }),
      () => client.stopTraining({ runId: "run-x" }),
    ]) {
      expect((await failure(call()))?.code).toBe(status.NOT_FOUND);
    }
    const badDecision = await failure(client.decide({ runId: "run-b", epoch: 0, decision: Decision.CONTINUE, eta: 0, generation: 1 }));
    expect(badDecision?.message).toBe("eta is 0; allowed: a learning rate greater than 0 and at most 1000000");
    await client.stopTraining({ runId: "run-b" });
  });

  it("holds a run under one placement generation: the same again is idempotent, an older one refused, a newer one starts the run anew", async () => {
    expect((await client.startRun({ runId: "run-g", spec, generation: 2 })).startEpoch).toBe(0);
    await waitForLog(trainer, (line) => line.msg === "epoch trained" && line.run === "run-g" && line.epoch === 0);
    expect((await client.startRun({ runId: "run-g", spec, generation: 2 })).startEpoch).toBe(0);
    const older = await failure(client.startRun({ runId: "run-g", spec, generation: 1 }));
    expect([older?.code, older?.message]).toEqual([status.ABORTED, "generation is 1; run run-g is held here under the newer generation 2"]);
    const none = await failure(client.startRun({ runId: "run-h", spec, generation: 0 }));
    expect([none?.code, none?.message]).toEqual([status.INVALID_ARGUMENT, "generation is 0; allowed: a placement generation of 1 or more"]);
    // A decision for another placement of the run is refused; the loop still waits for its own.
    const other = await failure(client.decide({ runId: "run-g", epoch: 0, decision: Decision.CONTINUE, eta: 0.5, generation: 3 }));
    expect([other?.code, other?.message]).toEqual([status.FAILED_PRECONDITION, "generation is 3; run run-g is held here under generation 2"]);
    expect(trained("run-g")).toEqual([0]);

    // Placed here again (an evaluator that lost track of it): epoch 0 again, from the seed, under generation 3.
    expect((await client.startRun({ runId: "run-g", spec, generation: 3 })).startEpoch).toBe(0);
    await waitForLog(trainer, (line) => line.msg === "run started" && line.run === "run-g" && line.generation === 3);
    await waitForLog(trainer, () => trained("run-g").length === 2);
    expect(trained("run-g")).toEqual([0, 0]);
    // Resuming from a checkpoint that is not there is refused for good, naming it.
    await client.stopTraining({ runId: "run-g" });
    const gone = await failure(client.startRun({ runId: "run-g", spec, generation: 4, resumeFrom: { epoch: 7, generation: 3 } }));
    expect([gone?.code, gone?.message]).toEqual([
      status.DATA_LOSS,
      "no checkpoint of run run-g's epoch 7 (generation 3) to resume from: run-g/latest-00007.g3 and run-g/epoch-00007.g3 are gone",
    ]);
  });
});
