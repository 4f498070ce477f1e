import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadMnist, loadNetworkJson } from "@mnist/core";
import { createClient, GrpcStatusError, status, type Client } from "@mnist/grpc";
import { Activation, RunService, RunSpecSchema, StoppingMetric } from "@mnist/protocol";
import { runSpec } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";

const mnist = loadMnist();
const sha = (params: Float32Array) => createHash("sha256").update(params).digest("hex");
const jsonLines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
const dir = mkdtempSync(join(tmpdir(), "mnist-cluster-"));

let cluster: Cluster;
let client: Client<typeof RunService>;
beforeAll(async () => {
  cluster = await startCluster();
  client = createClient(RunService, cluster.server);
}, 60_000);
// A failed test shows what the services said last: a stalled run is otherwise only a timeout.
afterEach((context) => {
  if (context.task.result?.state !== "fail") return;
  for (const service of [cluster.evaluator, ...cluster.trainers, cluster.augment]) {
    console.log(`last log lines of ${service.logs[0]?.service ?? "a service"}:\n${service.logs.slice(-25).map((line) => JSON.stringify(line)).join("\n")}`);
  }
});
afterAll(async () => {
  client?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function exported(runId: string, last: boolean): Promise<Float32Array> {
  const out = join(dir, `${runId}-${last ? "last" : "best"}.json`);
  const result = await cluster.cli(["export", runId, "--out", out, ...(last ? ["--last"] : [])]);
  expect(result.stderr).toBe("");
  return loadNetworkJson(readFileSync(out, "utf8")).params;
}

describe("a run through the services", () => {
  let runId = "";

  it("goes end to end, CLI → evaluator → trainer ← augment, with the epoch log the issue names", async () => {
    const result = await cluster.cli(["run", "--train-limit", "5000", "--epochs", "4", "--monitor", "train-cost,train-accuracy,eval-accuracy,test-accuracy", "--follow", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = jsonLines(result.stdout);
    expect(lines.map((line) => line.msg)).toEqual(["run launched", "epoch", "epoch", "epoch", "epoch", "run finished"]);
    runId = String(lines[0]!.run);
    expect(lines[5]).toMatchObject({ run: runId, state: "finished", stopReason: "completed 4 epochs", epochs: 4 });

    // The record is written before the log line: wait for the run's last line.
    const finished = await waitForLog(cluster.evaluator, (line) => line.msg === "run finished" && line.run === runId);
    const logged = cluster.evaluator.logs.filter((line) => line.msg === "epoch" && line.run === runId);
    expect(logged.map((line) => line.epoch)).toEqual([0, 1, 2, 3]);
    for (const line of logged) {
      expect(line).toMatchObject({ service: "evaluator", eta: 0.5 });
      for (const field of ["valAccuracy", "valCost", "trainCost", "trainAccuracy", "testAccuracy", "trainSeconds", "imagesPerSecond"]) expect(line[field], field).toBeGreaterThan(0);
      expect(line.valAccuracy).toBeLessThanOrEqual(1);
    }
    expect(logged.map((line) => line.decision)).toEqual(["continue", "continue", "continue", "stop"]);
    expect(finished.testAccuracy).toBeGreaterThan(0.85);
    expect(finished).toMatchObject({ stopReason: "completed 4 epochs" });
    for (const field of ["bestEpoch", "wallSeconds"]) expect(finished[field]).toBeTypeOf("number");
    await waitForLog(cluster.trainers[0]!, (line) => line.msg === "epoch trained" && line.run === runId && line.epoch === 3);
    expect(cluster.trainers[0]!.logs.filter((line) => line.msg === "epoch trained" && line.run === runId)).toHaveLength(4);

    const list = await cluster.cli(["list"]);
    expect(list.stdout).toMatch(new RegExp(`${runId}\\s+finished`));
  });

  it("trains bit-identical weights to mnistctl train's in-process path, and keeps the best-validation weights", async () => {
    const spec = runSpec({ trainLimit: 5000, epochs: 4, monitor: { trainCost: true, trainAccuracy: true, evalAccuracy: true, testAccuracy: true } });
    const local = await trainLocally(spec, { mnist });
    expect(sha(await exported(runId, true))).toBe(sha(local.network.params));
    expect(sha(await exported(runId, false))).toBe(sha(local.bestNetwork.params));
  });

  it("is bit-identical with augmentation too: the augment service's stream equals the in-process one", async () => {
    const args = ["--sizes", "784,20,10", "--train-limit", "600", "--epochs", "2", "--momentum", "0.5", "--dropout", "0.2", "--seed", "5"];
    const launched = await cluster.cli(["run", ...args, "--augment", "shifts,rotate=10,elastic=34/4", "--follow", "--json"]);
    expect(launched.code).toBe(0);
    const id = String(jsonLines(launched.stdout)[0]!.run);
    const spec = runSpec({
      sizes: [784, 20, 10],
      trainLimit: 600,
      epochs: 2,
      momentum: 0.5,
      dropout: 0.2,
      seed: 5n,
      augment: { expandShifts: true, rotateProbability: 1, rotateDegrees: 10, elasticProbability: 1, elasticAlpha: 34, elasticSigma: 4 },
    });
    const local = await trainLocally(spec, { mnist });
    expect(sha(await exported(id, true))).toBe(sha(local.network.params));
    // The list names what the run does beyond network2's plain SGD.
    expect((await cluster.cli(["list"])).stdout).toMatch(new RegExp(`${id}\\s+finished\\s+\\[784,20,10\\] eta 0\\.5 lambda 0 mb 10 momentum 0\\.5 dropout 0\\.2 `));
  });

  it("streams each epoch's progress from the trainer while it trains, when the watch asks for it", async () => {
    const { runId: id } = await client.launchRun({ spec: { trainLimit: 20_000, epochs: 2 } });
    const progress: { epoch: number; examples: number; total: number; imagesPerSecond: number }[] = [];
    const order: string[] = [];
    for await (const { event } of client.watchRun({ runId: id, progress: true })) {
      order.push(event.case!);
      if (event.case === "progress") progress.push(event.value);
    }
    expect(order.at(-1)).toBe("finished");
    expect(order.filter((name) => name === "epoch")).toHaveLength(2);
    // The last slice of every epoch is always reported; the epoch's line follows its progress.
    for (const epoch of [0, 1]) {
      const reports = progress.filter((report) => report.epoch === epoch);
      expect(reports.at(-1)).toMatchObject({ examples: 20_000, total: 20_000 });
      expect(reports.every((report) => report.imagesPerSecond > 0 && report.examples % 1000 === 0)).toBe(true);
      expect(reports.map((report) => report.examples)).toEqual([...reports.map((report) => report.examples)].sort((a, b) => a - b));
    }
    const lastOfEpoch0 = order.indexOf("epoch");
    expect(order.slice(0, lastOfEpoch0)).toContain("progress");
    // Without asking, a watch carries no progress.
    const plain: string[] = [];
    for await (const { event } of client.watchRun({ runId: id })) plain.push(event.case!);
    expect(plain).toEqual(["epoch", "epoch", "finished"]);
  });

  it("restoreBestOnDecay, on cost with a margin and a cooldown: each decay trains on from the best epoch, bit-identical to in-process", async () => {
    const args = ["--sizes", "784,20,10", "--train-limit", "1000", "--epochs", "10", "--eta", "3", "--momentum", "0.5", "--seed", "7"];
    const knobs = ["--decay-after", "1", "--restore-best-on-decay", "--metric", "eval-cost", "--min-delta", "0.001", "--cooldown", "1"];
    const launched = await cluster.cli(["run", ...args, ...knobs, "--follow", "--json"]);
    expect(launched.stderr).toBe("");
    const lines = jsonLines(launched.stdout);
    const id = String(lines[0]!.run);
    const spec = runSpec({
      sizes: [784, 20, 10],
      trainLimit: 1000,
      epochs: 10,
      eta: 3,
      momentum: 0.5,
      seed: 7n,
      stopping: { decayAfter: 1, restoreBestOnDecay: true, metric: StoppingMetric.EVAL_COST, minDelta: 0.001, cooldown: 1 },
    });
    const local = await trainLocally(spec, { mnist });
    const decisions = (epochs: { decision?: unknown; restoreEpoch?: unknown }[]) => epochs.map(({ decision, restoreEpoch }) => [decision, restoreEpoch]);
    const remote = lines.filter((line) => line.msg === "epoch");
    expect(decisions(remote)).toEqual(decisions(local.epochs));
    // The knobs did something: decays that went back to an earlier epoch.
    expect(remote.filter((line) => typeof line.restoreEpoch === "number" && line.restoreEpoch < Number(line.epoch)).length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toMatchObject({ bestEpoch: local.bestEpoch });
    expect(sha(await exported(id, true))).toBe(sha(local.network.params));
    expect(sha(await exported(id, false))).toBe(sha(local.bestNetwork.params));
    const restored = cluster.trainers.flatMap((trainer) => trainer.logs).filter((line) => line.msg === "restored the best epoch's weights" && line.run === id);
    expect(restored.map((line) => line.restoredEpoch)).toEqual(remote.flatMap((line) => (typeof line.restoreEpoch === "number" ? [line.restoreEpoch] : [])));
  });

  it("stops early on a plateau: no improvement in N epochs", async () => {
    const result = await cluster.cli(["run", "--sizes", "784,10,10", "--train-limit", "500", "--epochs", "50", "--eta", "1e-9", "--early-stop", "3", "--follow", "--json"]);
    const lines = jsonLines(result.stdout);
    expect(lines.filter((line) => line.msg === "epoch").map((line) => line.decision)).toEqual(["continue", "continue", "continue", "stop"]);
    expect(lines.at(-1)).toMatchObject({ state: "finished", stopReason: "no improvement in 3 epochs", bestEpoch: 0 });
  });

  it("halves eta on each plateau and stops once it has fallen to eta0/1024", async () => {
    const result = await cluster.cli(["run", "--sizes", "784,10,10", "--train-limit", "500", "--epochs", "100", "--eta", "1e-9", "--decay-after", "1", "--follow", "--json"]);
    const lines = jsonLines(result.stdout);
    const epochs = lines.filter((line) => line.msg === "epoch");
    expect(epochs.map((line) => line.decision)).toEqual(["continue", ...Array(9).fill("decay-eta"), "stop"]);
    expect(epochs.map((line) => line.eta)).toEqual([1e-9, 1e-9, ...Array.from({ length: 9 }, (_, k) => 1e-9 / 2 ** (k + 1))]);
    expect(lines.at(-1)).toMatchObject({ stopReason: "learning rate fell to 1/1024 of its initial value" });
    const id = String(lines[0]!.run);
    const { run } = await client.getRun({ runId: id });
    expect(run!.etaHistory.map((change) => [change.epoch, change.eta])).toEqual(Array.from({ length: 10 }, (_, k) => [k === 0 ? 0 : k + 1, 1e-9 / 2 ** k]));
  });

  it("stops a run on request and sets its learning rate, and the trainer takes the next run", async () => {
    const launched = await cluster.cli(["run", "--train-limit", "5000", "--epochs", "1000"]);
    const id = launched.stdout.trim();
    await waitForLog(cluster.evaluator, (line) => line.msg === "epoch" && line.run === id && line.epoch === 1);
    const set = await cluster.cli(["set-lr", id, "0.125"]);
    expect(set.code).toBe(0);
    const from = Number(/from epoch (\d+)/.exec(set.stdout)![1]);
    await waitForLog(cluster.evaluator, (line) => line.msg === "epoch" && line.run === id && (line.epoch as number) >= from + 1);
    const stopped = await cluster.cli(["stop", id, "--reason", "enough", "--json"]);
    expect(stopped.code).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ state: "stopped", stopReason: "enough" });
    const { run } = await client.getRun({ runId: id });
    const etas = run!.epochs.map((metrics) => metrics.eta);
    expect(etas.slice(0, 2)).toEqual([0.5, 0.5]);
    expect(etas.at(-1)).toBe(0.125);
    expect(run!.testAccuracy).toBeGreaterThan(0.8);
    const again = await cluster.cli(["stop", id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("has already ended");
    // The trainer is free again.
    const next = await cluster.cli(["run", "--train-limit", "1000", "--epochs", "1", "--follow", "--json"]);
    expect(jsonLines(next.stdout).at(-1)).toMatchObject({ state: "finished" });
  });

  it("predicts a digit drawn into a PNG with a run's best network, and plots its curves", async () => {
    const image = 0;
    const pixels = mnist.test.pixels.subarray(image * 784, (image + 1) * 784);
    const png = join(dir, "digit.png");
    await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).resize(112, 112).png().toFile(png);
    const predicted = await cluster.cli(["predict", png, "--run", runId, "--json"]);
    expect(predicted.stderr).toBe("");
    const answer = JSON.parse(predicted.stdout) as { digit: number; probabilities: number[] };
    expect(answer.digit).toBe(mnist.test.labels[image]);
    expect(answer.probabilities).toHaveLength(10);

    const curves = join(dir, "curves.png");
    const plotted = await cluster.cli(["plot", runId, "--out", curves]);
    expect(plotted.stderr).toBe("");
    expect((await sharp(curves).metadata()).format).toBe("png");
  });
});

describe("RunSpec validation and unknown runs", () => {
  const base = { sizes: [784, 30, 10] };
  it.each([
    [{ sizes: [785, 30, 10] }, "spec.sizes[0]"],
    [{ sizes: [784, 30, 9] }, "spec.sizes[2]"],
    [{ sizes: [784] }, "spec.sizes"],
    // Within the core's limits or not at all: once accepted here, every trainer can run it.
    [{ sizes: [784, 70_000, 10] }, "spec.sizes[1]"],
    [{ sizes: [784, 65_536, 4_096, 10] }, "spec.sizes"],
    [{ eta: 0 }, "spec.eta"],
    [{ eta: -1 }, "spec.eta"],
    [{ lambda: -0.5 }, "spec.lambda"],
    [{ l1: -1 }, "spec.l1"],
    [{ miniBatch: 0 }, "spec.miniBatch"],
    [{ epochs: 0 }, "spec.epochs"],
    [{ epochs: 1_000_000 }, "spec.epochs"],
    [{ dropout: 1 }, "spec.dropout"],
    [{ momentum: 1.5 }, "spec.momentum"],
    [{ nesterov: true }, "spec.nesterov"],
    [{ trainLimit: 50_001 }, "spec.trainLimit"],
    [{ activation: 7 as Activation }, "spec.activation"],
    [{ cost: 9 }, "spec.cost"],
    [{ init: 5 }, "spec.init"],
    [{ evalOn: 4 }, "spec.evalOn"],
    [{ stopping: { decayFactor: 1.5 } }, "spec.stopping.decayFactor"],
    [{ stopping: { minEtaFraction: 0 } }, "spec.stopping.minEtaFraction"],
    [{ augment: { rotateProbability: 1, rotateDegrees: 400 } }, "spec.augment.rotateDegrees"],
    [{ augment: { elasticProbability: 2 } }, "spec.augment.elasticProbability"],
    [{ augment: { translateProbability: 1, translatePixels: 20 } }, "spec.augment.translatePixels"],
  ])("LaunchRun rejects %j with INVALID_ARGUMENT naming %s", async (fields, field) => {
    const spec = create(RunSpecSchema, { ...base, ...(fields as object) });
    const error = await client.launchRun({ spec }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(GrpcStatusError);
    expect((error as GrpcStatusError).code).toBe(status.INVALID_ARGUMENT);
    expect((error as GrpcStatusError).message).toMatch(new RegExp(`^${field.replace(/[[\]]/g, "\\$&")} is .*; allowed: `));
  });

  it("answers NOT_FOUND for an unknown run id on every call, and the CLI says so in one line", async () => {
    const runId = "run-does-not-exist";
    const calls = [
      () => client.getRun({ runId }),
      () => client.stopRun({ runId }),
      () => client.setLearningRate({ runId, eta: 0.1 }),
      () => client.getNetwork({ runId }),
      async () => {
        for await (const _ of client.watchRun({ runId })) break;
      },
    ];
    for (const call of calls) {
      const error = await call().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect((error as GrpcStatusError).code).toBe(status.NOT_FOUND);
      expect((error as GrpcStatusError).message).toBe(`run "${runId}" not found`);
    }
    const cli = await cluster.cli(["get", runId]);
    expect(cli.code).toBe(2);
    expect(cli.stderr.trim().split("\n")).toEqual([`mnistctl get: run "${runId}" not found`]);
  });
});
