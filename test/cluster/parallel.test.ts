import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@mnist/grpc";
import { NetworkChoice, RunService, RunState, TrainerService } from "@mnist/protocol";
import { decodeCheckpoint, loadMnist } from "@mnist/core";
import { runSpec } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { startCluster, type Cluster } from "../harness/cluster.js";

/**
 * A trainer holding two runs trains them at once, each on the thread pool (trainBatchesAsync), and
 * each comes out as its in-process twin; it answers gRPC meanwhile.
 */

const mnist = loadMnist();
const spec = (seed: number) => ({ sizes: [784, 30, 10], trainLimit: 10_000, epochs: 3, seed: BigInt(seed), eta: 0.5, momentum: 0.3 });

describe("a trainer with TRAINER_MAX_RUNS=2", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ augmentReplicas: 2, trainerEnv: { TRAINER_MAX_RUNS: "2", TRAINER_BLAS_THREADS: "1" } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("trains two runs at once, each bit-identical to its in-process twin, answering gRPC while it does", async () => {
    const client = createClient(RunService, cluster.server);
    const trainer = createClient(TrainerService, cluster.trainers[0]!.address);
    try {
      const ids = [(await client.launchRun({ spec: spec(1) })).runId, (await client.launchRun({ spec: spec(2) })).runId];
      // Both held at once: the trainer's status lists both while they train.
      let both = false;
      let statuses = 0;
      for (;;) {
        const runs = await Promise.all(ids.map(async (runId) => (await client.getRun({ runId })).run!));
        if (runs.every((run) => run.state === RunState.FINISHED)) break;
        const status = await trainer.getStatus({}, { timeoutMs: 5_000 });
        statuses++;
        if (status.runs.length === 2) both = true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(both, `the trainer never held both runs at once (${statuses} statuses)`).toBe(true);
      for (const [i, runId] of ids.entries()) {
        const run = (await client.getRun({ runId })).run!;
        const twin = await trainLocally(runSpec({ ...spec(i + 1), monitor: { evalAccuracy: true } }), { mnist });
        expect(run.epochs.map((epoch) => epoch.valAccuracy)).toEqual(twin.epochs.map((epoch) => epoch.valAccuracy));
        const last = decodeCheckpoint((await client.getNetwork({ runId, choice: NetworkChoice.LAST })).network, `run ${runId}`).network;
        expect(Buffer.from(last.params.buffer).equals(Buffer.from(twin.network.params.buffer))).toBe(true);
      }
    } finally {
      trainer.close();
      client.close();
    }
  }, 180_000);
});
