import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { checkpointObjectName, checkpointObjectNames, checkpointsBucket, latestObjectName, runsBucket } from "@mnist/cluster";
import { loadMnist, loadNetworkJson } from "@mnist/core";
import { createClient } from "@mnist/grpc";
import { RunRecordSchema, RunService, RunState, TrainerService } from "@mnist/protocol";
import { runSpec } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";

const mnist = loadMnist();
const sha = (params: Float32Array) => createHash("sha256").update(params).digest("hex");
const jsonLines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);

// A run long enough to be interrupted: 20,000 images, 6 epochs, momentum (velocities must survive).
const args = ["--train-limit", "20000", "--epochs", "6", "--momentum", "0.3", "--eta", "0.3", "--seed", "3"];
const spec = runSpec({ trainLimit: 20_000, epochs: 6, momentum: 0.3, eta: 0.3, seed: 3n });

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function lastWeights(c: Cluster, runId: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "mnist-recovery-"));
  try {
    const out = join(dir, "last.json");
    const result = await c.cli(["export", runId, "--last", "--out", out]);
    expect(result.stderr).toBe("");
    return sha(loadNetworkJson(readFileSync(out, "utf8")).params);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function launch(c: Cluster, extra: string[] = []): Promise<string> {
  const launched = await c.cli(["run", ...args, ...extra]);
  expect(launched.stderr).toBe("");
  return launched.stdout.trim();
}

describe("recovery", () => {
  it("resumes a run from its checkpoint when its trainer is killed mid-run, bit-identical to an uninterrupted run", async () => {
    cluster = await startCluster();
    const c = cluster;
    const runId = await launch(c);
    await waitForLog(c.evaluator, (line) => line.msg === "epoch" && line.run === runId && line.epoch === 1);
    c.trainers[0]!.child.kill("SIGKILL");
    const replacement = await c.startTrainer();
    const watched = await c.cli(["watch", runId, "--json"]);
    const lines = jsonLines(watched.stdout);
    expect(lines.filter((line) => line.msg === "epoch").map((line) => line.epoch)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(lines.at(-1)).toMatchObject({ msg: "run finished", state: "finished", stopReason: "completed 6 epochs" });
    const resumed = replacement.logs.find((line) => line.msg === "run started" && line.run === runId);
    expect(resumed).toMatchObject({ resumed: true });
    expect(resumed!.epoch as number).toBeGreaterThanOrEqual(2);

    const local = await trainLocally(spec, { mnist });
    expect(await lastWeights(c, runId)).toBe(sha(local.network.params));
  });

  it("finishes a run when the evaluator is killed mid-run and started again", async () => {
    cluster = await startCluster();
    const c = cluster;
    const runId = await launch(c);
    await waitForLog(c.evaluator, (line) => line.msg === "epoch" && line.run === runId && line.epoch === 1);
    c.evaluator.child.kill("SIGKILL");
    await c.evaluator.exited;
    await c.startEvaluator();
    const watched = await c.cli(["watch", runId, "--json"]);
    const lines = jsonLines(watched.stdout);
    expect(lines.filter((line) => line.msg === "epoch").map((line) => line.epoch)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(lines.at(-1)).toMatchObject({ state: "finished", stopReason: "completed 6 epochs" });
    const local = await trainLocally(spec, { mnist });
    expect(await lastWeights(c, runId)).toBe(sha(local.network.params));
  });

  it("finishes a run whose trainer took it from an evaluator that died before recording it", async () => {
    cluster = await startCluster({ trainers: 0 });
    const c = cluster;
    // Queued: no trainer yet. Then the evaluator dies, a trainer comes, and the run is started on
    // it as that evaluator had begun to (StartRun went through, the record still says queued).
    const runId = await launch(c);
    c.evaluator.child.kill("SIGKILL");
    await c.evaluator.exited;
    // As the evaluator does before StartRun: the placement's generation, in the record first.
    const nats = await connect({ servers: c.nats.url });
    const records = await nats.jetstream().views.kv(runsBucket);
    const run = fromBinary(RunRecordSchema, (await records.get(runId))!.value);
    run.generation += 1;
    await records.put(runId, toBinary(RunRecordSchema, run));
    await nats.close();
    const trainerService = await c.startTrainer();
    const trainer = createClient(TrainerService, trainerService.address);
    expect((await trainer.startRun({ runId, spec: run.spec, generation: run.generation })).startEpoch).toBe(0);
    trainer.close();
    await waitForLog(trainerService, (line) => line.msg === "epoch trained" && line.run === runId && line.epoch === 0);
    // Its successor finds the run queued on a trainer that is full with it: it places it there.
    await c.startEvaluator();
    const watched = await c.cli(["watch", runId, "--json"]);
    expect(jsonLines(watched.stdout).at(-1)).toMatchObject({ state: "finished", stopReason: "completed 6 epochs", epochs: 6 });
    const local = await trainLocally(spec, { mnist });
    expect(await lastWeights(c, runId)).toBe(sha(local.network.params));
  });

  it("queues a sweep of 4 runs on one trainer and finishes all of them, ranked by validation accuracy", async () => {
    cluster = await startCluster();
    const c = cluster;
    const result = await c.cli(["sweep", "--eta", "0.1,1", "--lambda", "0,2", "--train-limit", "2000", "--epochs", "2", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = jsonLines(result.stdout);
    expect(lines.at(-1)).toMatchObject({ msg: "sweep finished", scheduler: "none", runs: 4, trainerEpochs: 8, stoppedByScheduler: 0 });
    const rows = lines.slice(0, -1);
    expect(rows).toHaveLength(4);
    expect(rows.map((row) => row.state)).toEqual(["finished", "finished", "finished", "finished"]);
    expect(rows.map((row) => row.rank)).toEqual([1, 2, 3, 4]);
    const accuracies = rows.map((row) => row.bestValAccuracy as number);
    expect(accuracies).toEqual([...accuracies].sort((a, b) => b - a));
    expect(new Set(rows.map((row) => `${row.eta}/${row.lambda}`))).toEqual(new Set(["0.1/0", "0.1/2", "1/0", "1/2"]));
    // One trainer with room for one run: the runs trained one after another, never two at once.
    const trainer = c.trainers[0]!;
    // The records end before the trainer hears the last decision: wait for its fourth stop.
    await waitForLog(trainer, () => trainer.logs.filter((line) => line.msg === "run stopped by the evaluator").length === 4);
    const events = trainer.logs.filter((line) => line.msg === "run started" || line.msg === "run stopped by the evaluator").map((line) => line.msg);
    expect(events).toEqual(Array(4).fill(["run started", "run stopped by the evaluator"]).flat());
  });

  it("fails a run, with the reason in its record, when no augment replica can feed it", async () => {
    cluster = await startCluster({ trainerEnv: { TRAINER_SLICE_DELIVERY_TIMEOUT_MS: "1500" } });
    const c = cluster;
    c.augment.child.kill("SIGTERM");
    await c.augment.exited;
    const result = await c.cli(["run", "--train-limit", "1000", "--epochs", "2", "--follow", "--json"]);
    expect(result.code).toBe(1);
    const last = jsonLines(result.stdout).at(-1)!;
    expect(last).toMatchObject({ msg: "run finished", state: "failed", epochs: 0 });
    expect(String(last.error)).toMatch(/no augment replica delivered run run-\S+ epoch 0 slice 0 within 1\d{3} ms/);
    expect(c.trainers[0]!.logs.filter((line) => line.msg === "run failed")).toHaveLength(1);
  });
});

describe("an interrupted DeleteRun", () => {
  it("is finished by the next evaluator: a run marked deleting loses its checkpoints and then its record; objects of runs without a record go", async () => {
    cluster = await startCluster({ trainers: 0 });
    const c = cluster;
    const nats = await connect({ servers: c.nats.url });
    try {
      const records = await nats.jetstream().views.kv(runsBucket);
      const objects = await nats.jetstream().views.os(checkpointsBucket);
      const spec = { sizes: [784, 10, 10] };
      // Killed between marking the run and removing its objects; killed after removing a record the old way, before its objects; a run to keep.
      const [marked, orphan, kept] = ["run-deleting-000001", "run-orphaned-000002", "run-kept-000003"];
      await records.put(marked, toBinary(RunRecordSchema, create(RunRecordSchema, { runId: marked, spec, state: RunState.STOPPED, deleting: true })));
      await records.put(kept, toBinary(RunRecordSchema, create(RunRecordSchema, { runId: kept, spec, state: RunState.FINISHED })));
      const names = [marked, orphan, kept].flatMap((runId) => [checkpointObjectName(runId, 0, 1), latestObjectName(runId, 1, 1)]);
      for (const name of names) await objects.putBlob({ name }, Uint8Array.of(1, 2, 3));
      c.evaluator.child.kill("SIGKILL");
      await c.evaluator.exited;
      await c.startEvaluator();
      await waitForLog(c.evaluator, (line) => line.msg === "finished deleting a run whose deletion was interrupted" && line.run === marked);
      await waitForLog(c.evaluator, (line) => line.msg === "removed checkpoint objects of runs that have no record");
      expect(await records.get(marked).then((entry) => entry?.operation)).not.toBe("PUT");
      expect(await records.get(kept).then((entry) => entry?.operation)).toBe("PUT");
      const left = (await checkpointObjectNames(nats)).filter((name) => names.includes(name)).sort();
      expect(left).toEqual([checkpointObjectName(kept, 0, 1), latestObjectName(kept, 1, 1)].sort());
      expect((await c.cli(["list", "--json"])).stdout).not.toContain(marked);
    } finally {
      await nats.close();
    }
  });
});

describe("a trainer's refusal", () => {
  it("fails a run whose checkpoint is corrupt, with the trainer's reason in its record, instead of retrying it for ever", async () => {
    cluster = await startCluster();
    const c = cluster;
    const runId = await launch(c);
    await waitForLog(c.evaluator, (line) => line.msg === "epoch" && line.run === runId && line.epoch === 0);
    c.trainers[0]!.child.kill("SIGKILL");
    // What the next trainer resumes from (the latest copy of the last epoch recorded): bytes that are no checkpoint.
    const runs = createClient(RunService, c.server);
    const last = (await runs.getRun({ runId }).finally(() => runs.close())).run!.epochs.at(-1)!;
    const nats = await connect({ servers: c.nats.url });
    const store = await nats.jetstream().views.os(checkpointsBucket);
    await store.putBlob({ name: latestObjectName(runId, last.epoch, last.generation) }, new TextEncoder().encode("not a checkpoint at all"));
    await nats.close();
    const replacement = await c.startTrainer();

    const watched = await c.cli(["watch", runId, "--json"]);
    expect(watched.code).toBe(1);
    const finished = jsonLines(watched.stdout).at(-1)!;
    expect(finished).toMatchObject({ msg: "run finished", state: "failed" });
    expect(String(finished.error)).toMatch(/^trainer \S+ refused the run: checkpoint \S+\/latest-\d{5}\.g1 \(23 bytes\) does not decode: /);
    const refusals = c.evaluator.logs.filter((line) => line.run === runId && String(line.msg).startsWith("trainer refused run"));
    expect(refusals.map((line) => line.msg)).toEqual(["trainer refused run for good"]);
    expect(replacement.child.exitCode).toBeNull();
  });
});
