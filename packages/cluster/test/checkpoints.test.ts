import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunCheckpointSchema } from "@mnist/protocol";
import { startNatsServer, type NatsServer } from "../../../test/harness/nats-server.js";
import { checkpointObjectName, checkpointsBucket, deleteCheckpoint, deleteRunCheckpoints, latestCheckpointName, latestObjectName, publishCheckpoint, readLatestCheckpoint } from "../src/index.js";

/** Checkpoints are named by the placement generation that wrote them: a late writer lands beside the current holder's, never over them. */
describe("checkpoints by generation", () => {
  let server: NatsServer;
  let nats: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nats = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nats?.close();
    await server?.stop();
  });

  const checkpoint = (runId: string, epoch: number, generation = 1, eta = 0.5) =>
    create(RunCheckpointSchema, { runId, epoch, eta, generation, state: Uint8Array.of(epoch), examplesSeen: BigInt((epoch + 1) * 100) });

  it("stores each generation's copies under its own names and announces them under the generation", async () => {
    const store = await nats.jetstream().views.os(checkpointsBucket);
    const current = await publishCheckpoint(nats, checkpoint("run-a", 3, 2, 0.25), "trainer-new");
    // The trainer that held generation 1 wakes from a pause and writes the same epoch late.
    const late = await publishCheckpoint(nats, checkpoint("run-a", 3, 1, 0.5), "trainer-old");
    expect([current.objectName, late.objectName]).toEqual(["run-a/epoch-00003.g2", "run-a/epoch-00003.g1"]);
    expect([current.generation, late.generation]).toEqual([2, 1]);
    for (const name of [checkpointObjectName("run-a", 3, 2), latestObjectName("run-a", 3, 2)]) {
      const stored = fromBinary(RunCheckpointSchema, (await store.getBlob(name))!);
      expect([stored.generation, stored.eta]).toEqual([2, 0.25]);
    }
    // Generation 0 keeps the names stores had before generations.
    expect([checkpointObjectName("run-a", 3, 0), latestObjectName("run-a", 3, 0)]).toEqual(["run-a/epoch-00003", "run-a/latest-00003"]);
    // The newest copy: the latest epoch, and of that epoch the latest generation.
    await publishCheckpoint(nats, checkpoint("run-a", 2, 3), "trainer-newer");
    expect(await latestCheckpointName(nats, "run-a")).toBe(latestObjectName("run-a", 3, 2));
    expect((await readLatestCheckpoint(nats, "run-a"))?.checkpoint.generation).toBe(2);
    expect(await readLatestCheckpoint(nats, "run-c")).toBeUndefined();
  });

  it("asks before each step whether the writer still holds the run, and stops at the first it does not", async () => {
    const steps: string[] = [];
    let holding = true;
    await expect(
      publishCheckpoint(nats, checkpoint("run-f", 0), "trainer-t", {
        holding: () => holding,
        before: (step) => {
          steps.push(step);
          holding = false;
        },
      }),
    ).rejects.toThrow(/run run-f no longer held while storing epoch 0's checkpoint/);
    expect(steps).toEqual(["write"]);
  });
  it("finds and removes a run's checkpoints among thousands while a trainer keeps storing another's, leaving no record of them", async () => {
    const store = await nats.jetstream().views.os(checkpointsBucket);
    const bytes = toBinary(RunCheckpointSchema, checkpoint("run-d", 0));
    // A long run's pruned epochs: a big store whose metadata takes a while to replay.
    for (let start = 0; start < 1500; start += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.putBlob({ name: checkpointObjectName("run-old", start + i, 1) }, bytes)));
    }
    for (const epoch of [0, 1, 2]) await publishCheckpoint(nats, checkpoint("run-d", epoch), "trainer-t");
    let writing = true;
    const writer = (async () => {
      for (let epoch = 0; writing; epoch++) {
        await publishCheckpoint(nats, checkpoint("run-e", epoch), "trainer-t");
        // As a trainer does once the epoch is decided: the copy before it goes.
        if (epoch > 0) await deleteCheckpoint(nats, latestObjectName("run-e", epoch - 1, 1));
      }
    })();
    try {
      // Epochs 0-2 and their latest copies (a trainer removes an older copy once the newer epoch is decided).
      expect(await deleteRunCheckpoints(nats, "run-d")).toBe(6);
      expect(await latestCheckpointName(nats, "run-d")).toBeUndefined();
      expect(await latestCheckpointName(nats, "run-e")).toMatch(/^run-e\/latest-\d{5}\.g1$/);
    } finally {
      writing = false;
      await writer;
    }
    const manager = await nats.jetstreamManager();
    const subjects = Object.keys((await manager.streams.info(`OBJ_${checkpointsBucket}`, { subjects_filter: `$O.${checkpointsBucket}.M.>` })).state.subjects ?? {});
    const names = subjects.map((subject) => Buffer.from(subject.slice(`$O.${checkpointsBucket}.M.`.length), "base64url").toString("utf8"));
    expect(names.filter((name) => name.startsWith("run-d/"))).toEqual([]);
    // Only run-e's newest latest copy is left of its latest copies: each older one went without a trace.
    expect(names.filter((name) => name.startsWith("run-e/latest-"))).toHaveLength(1);
    expect(await deleteRunCheckpoints(nats, "run-d")).toBe(0);
  });
});
