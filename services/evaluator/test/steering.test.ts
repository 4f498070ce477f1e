import { create, toBinary } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkpointObjectName, checkpointsBucket, publishCheckpoint, TrainerView } from "@mnist/cluster";
import { encodeCheckpoint, loadMnist } from "@mnist/core";
import { CheckpointAnnouncementSchema, Decision, RunCheckpointSchema, RunSpecSchema, RunState } from "@mnist/protocol";
import { createLogger, Registry, Rejections } from "@mnist/runtime";
import { initialNetwork, resolveRunSpec } from "@mnist/spec";
import { startNatsServer, type NatsServer } from "../../../test/harness/nats-server.js";
import { evaluatorMetrics } from "../src/metrics.js";
import { RunStore } from "../src/run-store.js";
import { Steering } from "../src/steering.js";
import { SweepStore } from "../src/sweep-store.js";
import { TrainerClients } from "../src/trainer-clients.js";

/**
 * The evaluator's writes under contention, on a real nats-server: two evaluators (each its own
 * connection, store, trainer view and steering) write the same run record at the same time.
 */

const mnist = loadMnist();
const logger = createLogger("evaluator-test", "silent");
const specInit = { sizes: [784, 10, 10], trainLimit: 1_000, epochs: 3, eta: 0.5, seed: 3n };
const spec = create(RunSpecSchema, specInit);

interface Evaluator {
  nats: NatsConnection;
  store: RunStore;
  trainers: TrainerView;
  steering: Steering;
}

async function evaluator(server: NatsServer, rejections = new Rejections(logger)): Promise<Evaluator> {
  const nats = await connect({ servers: server.url });
  const store = await RunStore.open(nats);
  const trainers = await TrainerView.open(nats);
  const steering = new Steering(nats, store, trainers, new TrainerClients(), mnist, logger, rejections, await SweepStore.open(nats), evaluatorMetrics(new Registry(), () => store.active()));
  return { nats, store, trainers, steering };
}

describe("two evaluators writing the same run record", () => {
  let server: NatsServer;
  let a: Evaluator;
  let b: Evaluator;
  beforeAll(async () => {
    server = await startNatsServer();
    [a, b] = await Promise.all([evaluator(server), evaluator(server)]);
  });
  afterAll(async () => {
    for (const side of [a, b]) {
      await side?.store.close();
      await side?.trainers.stop();
      await side?.nats.close();
    }
    await server?.stop();
  });

  it("loses no update: a compare-and-set that lost the race (JetStream's wrong-last-sequence) is applied again to the fresher record", async () => {
    const run = await a.store.create(spec, 0.5, "a test");
    const writes = Array.from({ length: 24 }, (_, i) =>
      (i % 2 ? a : b).store.update(run.runId, (record) => {
        record.etaHistory.push({ $typeName: "mnist.v1.EtaChange", epoch: i + 1, eta: i });
      }),
    );
    await Promise.all(writes);
    const final = await b.store.get(run.runId);
    expect(final!.etaHistory.map((change) => change.epoch).sort((x, y) => x - y)).toEqual([...Array(25).keys()]);
  });

  it("records an epoch once when both handle its announcement at the same time, with the same decision as one alone", async () => {
    const run = await a.store.create(spec, 0.5, "a test");
    await a.store.update(run.runId, (record) => {
      record.state = RunState.RUNNING;
      record.trainerId = "trainer-t";
    });
    const network = initialNetwork(resolveRunSpec(spec));
    const checkpoint = create(RunCheckpointSchema, { runId: run.runId, epoch: 0, eta: 0.5, state: encodeCheckpoint(network), trainSeconds: 1, imagesPerSecond: 1_000 });
    const announcement = await publishCheckpoint(a.nats, checkpoint, "trainer-t");

    await Promise.all([a.steering.handle(announcement), b.steering.handle(announcement), a.steering.handle(announcement)]);

    const record = (await a.store.get(run.runId))!;
    expect(record.epochs.map((epoch) => epoch.epoch)).toEqual([0]);
    expect(record.epochs[0]!.decision).toBe(Decision.CONTINUE);
    expect(record.bestEpoch).toBe(0);
    expect(record.bestValAccuracy).toBe(record.epochs[0]!.valAccuracy);
    // Both evaluators' views of the active runs come to the same revision of it.
    await expect.poll(() => b.store.active().find((active) => active.runId === run.runId)?.epochs.length).toBe(1);
  });

  it("decides on the rate a SetLearningRate wrote while the epoch was being scored", async () => {
    const run = await a.store.create(create(RunSpecSchema, { ...specInit, stopping: { decayAfter: 1 } }), 0.5, "a test");
    await a.store.update(run.runId, (record) => {
      record.state = RunState.RUNNING;
      record.trainerId = "trainer-t";
    });
    const network = initialNetwork(resolveRunSpec(spec));
    const publish = (epoch: number) =>
      publishCheckpoint(a.nats, create(RunCheckpointSchema, { runId: run.runId, epoch, eta: 0.5, state: encodeCheckpoint(network), trainSeconds: 1, imagesPerSecond: 1_000 }), "trainer-t");
    await a.steering.handle(await publish(0));
    // The other evaluator sets η = 0.2 from epoch 2 on; epoch 1 (no better than 0: the same weights) then halves that rate, not 0.5.
    await b.steering.update((await b.store.get(run.runId))!, { eta: 0.2, detail: "eta=0.2", reason: "" }, "a test");
    await a.steering.handle(await publish(1));
    const record = (await a.store.get(run.runId))!;
    expect(record.epochs.map((epoch) => epoch.decision)).toEqual([Decision.CONTINUE, Decision.DECAY_ETA]);
    expect(record.eta).toBe(0.1);
  });
});

describe("fencing by placement generation", () => {
  let server: NatsServer;
  let side: Evaluator;
  const rejections = new Rejections(logger);
  beforeAll(async () => {
    server = await startNatsServer();
    side = await evaluator(server, rejections);
  });
  afterAll(async () => {
    await side?.store.close();
    await side?.trainers.stop();
    await side?.nats.close();
    await server?.stop();
  });

  const network = initialNetwork(resolveRunSpec(spec));
  const checkpoint = (runId: string, generation: number, eta = 0.5) =>
    create(RunCheckpointSchema, { runId, epoch: 0, eta, generation, state: encodeCheckpoint(network), trainSeconds: 1, imagesPerSecond: 1_000 });
  /** A run placed twice: generation 1 on trainer-old, which lost it, and now generation 2 on trainer-new. */
  async function replacedRun(): Promise<string> {
    const { runId } = await side.store.create(spec, 0.5, "a test");
    await side.store.update(runId, (record) => {
      record.state = RunState.RUNNING;
      record.trainerId = "trainer-new";
      record.generation = 2;
    });
    return runId;
  }

  it("drops what an earlier placement announces (its checkpoint, its failure), counts it, and records the current placement's", async () => {
    const runId = await replacedRun();
    // The trainer that held generation 1 wakes after its lease lapsed and announces the epoch it was training.
    await side.steering.handle(await publishCheckpoint(side.nats, checkpoint(runId, 1, 0.25), "trainer-old"));
    await side.steering.handle(create(CheckpointAnnouncementSchema, { runId, epoch: 0, generation: 1, trainerId: "trainer-old", error: "training diverged" }));
    let record = (await side.store.get(runId))!;
    expect([record.state, record.epochs.length, record.error]).toEqual([RunState.RUNNING, 0, ""]);
    expect(rejections.snapshot()).toEqual({ "checkpoints/stale-generation": 2 });

    await side.steering.handle(await publishCheckpoint(side.nats, checkpoint(runId, 2), "trainer-new"));
    record = (await side.store.get(runId))!;
    expect(record.epochs.map(({ epoch, generation, eta }) => ({ epoch, generation, eta }))).toEqual([{ epoch: 0, generation: 2, eta: 0.5 }]);
  });

  it("fails the run when the object under the current generation's name was not written under it", async () => {
    const runId = await replacedRun();
    const store = await side.nats.jetstream().views.os(checkpointsBucket);
    await store.putBlob({ name: checkpointObjectName(runId, 0, 2) }, toBinary(RunCheckpointSchema, checkpoint(runId, 1)));
    await side.steering.handle(create(CheckpointAnnouncementSchema, { runId, epoch: 0, generation: 2, trainerId: "trainer-new", objectName: checkpointObjectName(runId, 0, 2), eta: 0.5 }));
    const record = (await side.store.get(runId))!;
    expect(record.state).toBe(RunState.FAILED);
    expect(record.error).toBe(`epoch 0: checkpoint ${runId}/epoch-00000.g2 holds run ${runId}'s epoch 0 of generation 1`);
  });
});
