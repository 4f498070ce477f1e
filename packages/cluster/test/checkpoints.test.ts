import { create, toBinary } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunCheckpointSchema } from "@mnist/protocol";
import { startNatsServer, type NatsServer } from "../../../test/harness/nats-server.js";
import { checkpointObjectName, checkpointsBucket, deleteRunCheckpoints, latestCheckpointName, latestObjectName, publishCheckpoint, readLatestCheckpoint } from "../src/index.js";

/** The newest checkpoint is the one a resuming trainer gets, whatever was written late. */
describe("latest checkpoints", () => {
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

  const checkpoint = (runId: string, epoch: number) => create(RunCheckpointSchema, { runId, epoch, eta: 0.5, state: Uint8Array.of(epoch), examplesSeen: BigInt((epoch + 1) * 100) });

  it("keeps one latest copy per run, the newest epoch's, and a late write of an older one does not shadow it", async () => {
    for (const epoch of [0, 1, 2]) await publishCheckpoint(nats, checkpoint("run-a", epoch), "trainer-t");
    await publishCheckpoint(nats, checkpoint("run-b", 7), "trainer-t");
    expect(await latestCheckpointName(nats, "run-a")).toBe(latestObjectName("run-a", 2));
    const store = await nats.jetstream().views.os(checkpointsBucket);
    const names = (await store.list()).map((info) => info.name).filter((name) => name.startsWith("run-a/latest-"));
    expect(names).toEqual([latestObjectName("run-a", 2)]);
    // A trainer paused while it stored epoch 1's copy finishes the write after epoch 2's.
    await store.putBlob({ name: latestObjectName("run-a", 1) }, toBinary(RunCheckpointSchema, checkpoint("run-a", 1)));
    const latest = await readLatestCheckpoint(nats, "run-a");
    expect([latest?.name, latest?.checkpoint.epoch, latest?.checkpoint.examplesSeen]).toEqual([latestObjectName("run-a", 2), 2, 300n]);
    expect((await readLatestCheckpoint(nats, "run-b"))?.checkpoint.epoch).toBe(7);
    expect(await readLatestCheckpoint(nats, "run-c")).toBeUndefined();
  });

  it("finds and removes a run's checkpoints among thousands while a trainer keeps storing another's, leaving no record of them", async () => {
    const store = await nats.jetstream().views.os(checkpointsBucket);
    const bytes = toBinary(RunCheckpointSchema, checkpoint("run-d", 0));
    // A long run's pruned epochs: a big store whose metadata takes a while to replay.
    for (let start = 0; start < 1500; start += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.putBlob({ name: checkpointObjectName("run-old", start + i) }, bytes)));
    }
    for (const epoch of [0, 1, 2]) await publishCheckpoint(nats, checkpoint("run-d", epoch), "trainer-t");
    let writing = true;
    const writer = (async () => {
      for (let epoch = 0; writing; epoch++) await publishCheckpoint(nats, checkpoint("run-e", epoch), "trainer-t");
    })();
    try {
      // Epochs 0-2 and the latest copy of epoch 2 (the older copies were replaced as they came).
      expect(await deleteRunCheckpoints(nats, "run-d")).toBe(4);
      expect(await latestCheckpointName(nats, "run-d")).toBeUndefined();
      expect(await latestCheckpointName(nats, "run-e")).toMatch(/^run-e\/latest-\d{5}$/);
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
