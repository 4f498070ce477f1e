import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, GrpcStatusError, status } from "@mnist/grpc";
import { RunRecordSchema, RunService, RunState, type RunRecord, type RunSpec, type RunSpecSchema } from "@mnist/protocol";
import { loadMnist } from "@mnist/core";
import { runSpec } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { startCluster, type Cluster } from "../harness/cluster.js";

/**
 * Load on one cluster of 2 trainers: a 16-run sweep with 50 watch streams on one of its runs and
 * a storm of 200 invalid launches beside it, then 1,000 finished runs in the bucket.
 */

const mnist = loadMnist();
const sweepSize = 16;
const watchers = 50;
const invalidLaunches = 200;
const finishedRuns = 1_000;

const sweepSpec = (i: number) => ({ sizes: [784, 10 + i, 10], trainLimit: 1_000, epochs: 3, seed: BigInt(100 + i), eta: 0.5 + i / 16, monitor: { evalAccuracy: true } });

/** Specs no run can have: each field the spec checks, with a value it refuses. */
function invalidSpec(i: number): MessageInitShape<typeof RunSpecSchema> {
  const spec = sweepSpec(i % sweepSize);
  const bad: MessageInitShape<typeof RunSpecSchema>[] = [
    { eta: Number.NaN },
    { eta: -1 },
    { lambda: Number.POSITIVE_INFINITY },
    { dropout: 1.5 },
    { momentum: Number.NEGATIVE_INFINITY },
    { sizes: [784, 70_000, 10] },
    { sizes: [784, 0, 10] },
    { sizes: [784] },
    { sizes: [100, 30, 10] },
    { epochs: 0 },
    { epochs: 4_000_000_000 },
    { miniBatch: 0 },
    { trainLimit: 60_001 },
    { augment: { $typeName: "mnist.v1.AugmentSpec", rotateProbability: Number.NaN } as RunSpec["augment"] },
  ];
  return { ...spec, ...bad[i % bad.length] } as MessageInitShape<typeof RunSpecSchema>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v)).slice(0, 500)}`);
    await sleep(250);
  }
}

describe("load", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ trainers: 2, augmentReplicas: 2, nats: { monitor: true } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("finishes a 16-run sweep on 2 trainers with 50 watchers on one run and 200 invalid launches beside it, every result as in-process", async () => {
    const client = createClient(RunService, cluster.server);
    try {
      const ids: string[] = [];
      for (let i = 0; i < sweepSize; i++) ids.push((await client.launchRun({ spec: sweepSpec(i) })).runId);
      // 50 streams on the first run, opened together, and the storm of invalid launches at the same time.
      const streams = Array.from({ length: watchers }, async () => {
        const epochs: number[] = [];
        let finished: RunRecord | undefined;
        for await (const { event } of client.watchRun({ runId: ids[0]! })) {
          if (event.case === "epoch") epochs.push(event.value.epoch);
          if (event.case === "finished") finished = event.value;
        }
        return { epochs, finished };
      });
      const storm = await Promise.allSettled(Array.from({ length: invalidLaunches }, (_, i) => client.launchRun({ spec: invalidSpec(i) })));

      const watched = await Promise.all(streams);
      const refused = storm.map((outcome) => (outcome.status === "rejected" && outcome.reason instanceof GrpcStatusError ? outcome.reason.code : "accepted"));
      expect(refused.map((code, i) => (code === status.INVALID_ARGUMENT ? "refused" : `${JSON.stringify(invalidSpec(i), (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}: ${code}`)).filter((outcome) => outcome !== "refused")).toEqual([]);
      for (const stream of watched) {
        expect(stream.epochs).toEqual([0, 1, 2]);
        expect(stream.finished?.state).toBe(RunState.FINISHED);
      }
      const runs = await until(
        "the sweep finishes",
        async () => Promise.all(ids.map(async (runId) => (await client.getRun({ runId })).run!)),
        (records) => records.every((run) => run.state === RunState.FINISHED),
      );
      // Both trainers took part, and every run is its in-process twin, epoch by epoch.
      expect(new Set(runs.map((run) => run.trainerId.split(".")[0])).size).toBe(2);
      for (const [i, run] of runs.entries()) {
        const local = await trainLocally(runSpec(sweepSpec(i)), { mnist });
        expect(run.epochs.map((epoch) => epoch.valAccuracy)).toEqual(local.epochs.map((epoch) => epoch.valAccuracy));
        expect(run.bestEpoch).toBe(local.bestEpoch);
      }
      // Nothing of the storm was stored: the bucket holds the sweep only.
      expect((await client.listRuns({ pageSize: 1_000 })).runs.map((run) => run.runId).sort()).toEqual([...ids].sort());
    } finally {
      client.close();
    }
  }, 300_000);

  it("keeps placement cheap with 1,000 finished runs in the bucket: no rereading them, a new run placed as before", async () => {
    const client = createClient(RunService, cluster.server);
    const nats = await connect({ servers: cluster.nats.url });
    try {
      // NATS traffic of an idle cluster over a few seconds, before and after the bucket fills.
      const idleMessages = async () => {
        const from = await cluster.nats.varz();
        await sleep(3_000);
        const to = await cluster.nats.varz();
        return to.in_msgs - from.in_msgs;
      };
      const quiet = await idleMessages();
      const kv = await nats.jetstream().views.kv("runs");
      const template = (await client.listRuns({})).runs[0]!;
      for (let i = 0; i < finishedRuns; i++) {
        const runId = `run-finished-${String(i).padStart(4, "0")}`;
        await kv.put(runId, toBinary(RunRecordSchema, create(RunRecordSchema, { ...template, runId, state: RunState.FINISHED, finishedAt: timestampNow() })));
      }
      const full = await idleMessages();
      console.log(`idle NATS messages in 3 s: ${quiet} with ${sweepSize} runs in the bucket, ${full} with ${sweepSize + finishedRuns}`);
      // Rereading every record on each pass (5 a second here) would be thousands of messages a second.
      expect(full).toBeLessThan(quiet + 200);

      const launchedAt = Date.now();
      const { runId } = await client.launchRun({ spec: sweepSpec(0) });
      const placed = await until("the new run is placed", async () => (await client.getRun({ runId })).run!, (run) => run.state !== RunState.QUEUED, 60_000);
      console.log(`a new run placed ${Date.now() - launchedAt} ms after launch with ${sweepSize + finishedRuns} runs in the bucket`);
      expect([RunState.RUNNING, RunState.FINISHED]).toContain(placed.state);
      const done = await until("the new run finishes", async () => (await client.getRun({ runId })).run!, (run) => run.state === RunState.FINISHED, 120_000);
      expect(done.epochs).toHaveLength(3);
      // ListRuns pages: 100 a page by default, newest first, each page's token leading to the next.
      const listed: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await client.listRuns({ pageToken });
        expect(page.runs.length).toBeLessThanOrEqual(100);
        listed.push(...page.runs.map((run) => run.runId));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== "");
      expect(pages).toBe(Math.ceil((sweepSize + finishedRuns + 1) / 100));
      expect(listed).toHaveLength(sweepSize + finishedRuns + 1);
      expect(listed).toEqual([...listed].sort().reverse());
      expect(listed[0]).toBe(runId);
      // Filtered by state and by name prefix, a page at a time all the same.
      const finished = await client.listRuns({ state: RunState.FINISHED, pageSize: 7 });
      expect(finished.runs.map((run) => run.state)).toEqual(Array(7).fill(RunState.FINISHED));
      expect((await client.listRuns({ state: RunState.QUEUED })).runs).toEqual([]);
    } finally {
      await nats.close();
      client.close();
    }
  }, 180_000);
});
