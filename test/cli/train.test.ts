import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadMnist, loadNetworkJson } from "@mnist/core";
import { Init, EvalSet } from "@mnist/protocol";
import { runSpec, score } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { runNode } from "../harness/services.js";

const dir = mkdtempSync(join(tmpdir(), "mnistctl-train-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mnist = loadMnist();
const sha = (params: Float32Array) => createHash("sha256").update(params).digest("hex");
const lines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);

describe("mnistctl train", () => {
  it("prints one pino line per epoch and a run-finished line with --json, and saves what trainLocally trains, bit for bit", async () => {
    const model = join(dir, "model.json");
    const args = ["train", "--sizes", "784,20,10", "--epochs", "3", "--train-limit", "2000", "--eta", "0.4", "--lambda", "1", "--init", "large", "--seed", "9"];
    const result = await runNode("cli/dist/main.js", [...args, "--monitor", "train-cost,train-accuracy,eval-cost,eval-accuracy", "--eval-on", "test", "--save", model, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const out = lines(result.stdout);
    expect(out.map((line) => line.msg)).toEqual(["epoch", "epoch", "epoch", "run finished"]);
    for (const [epoch, line] of out.slice(0, 3).entries()) {
      expect(line).toMatchObject({ service: "mnistctl", epoch, eta: 0.4 });
      for (const field of ["trainSeconds", "imagesPerSecond", "trainCost", "valCost"]) expect(line[field]).toBeGreaterThan(0);
      for (const field of ["trainAccuracy", "valAccuracy"]) expect(line[field]).toBeGreaterThan(0.5), expect(line[field]).toBeLessThanOrEqual(1);
    }
    expect(out[3]).toMatchObject({ epochs: 3, stopReason: "completed 3 epochs", evalOn: "test", blasThreads: 1 });

    const spec = runSpec({ sizes: [784, 20, 10], epochs: 3, trainLimit: 2000, eta: 0.4, lambda: 1, init: Init.LARGE, seed: 9n, evalOn: EvalSet.TEST });
    const local = await trainLocally(spec, { mnist });
    const saved = loadNetworkJson(readFileSync(model, "utf8"));
    expect(sha(saved.params)).toBe(sha(local.network.params));
    expect(out[2]!.valAccuracy).toBe(score(local.network, mnist.test, spec).accuracy);

    const evaluated = await runNode("cli/dist/main.js", ["evaluate", "--model", model, "--on", "test", "--lambda", "1", "--json"]);
    expect(evaluated.code).toBe(0);
    const report = JSON.parse(evaluated.stdout) as { accuracy: number; cost: number };
    expect(report.accuracy).toBe(out[2]!.valAccuracy);
    expect(report.cost).toBeCloseTo(out[2]!.valCost as number, 10);
  });

  it("prints a readable table without --json", async () => {
    const result = await runNode("cli/dist/main.js", ["train", "--sizes", "784,10,10", "--epochs", "2", "--train-limit", "1000"]);
    expect(result.code).toBe(0);
    const text = result.stdout.split("\n");
    expect(text[0]).toMatch(/epoch\s+eta\s+train s\s+images\/s\s+val acc\s+decision/);
    expect(text[1]).toMatch(/^\s+0\s+0\.5\s.*%\s+continue$/);
    expect(result.stdout).toContain("stopped: completed 2 epochs");
  });

  it("stops itself early on a plateau and halves eta on the way, with the evaluator's policy", async () => {
    const result = await runNode("cli/dist/main.js", [
      ...["train", "--sizes", "784,10,10", "--epochs", "50", "--train-limit", "500", "--eta", "1e-9"],
      ...["--decay-after", "1", "--min-eta-fraction", "0.125", "--json"],
    ]);
    expect(result.code).toBe(0);
    const out = lines(result.stdout);
    expect(out.filter((line) => line.msg === "epoch").map((line) => line.decision)).toEqual(["continue", "decay-eta", "decay-eta", "stop"]);
    expect(out.at(-1)).toMatchObject({ stopReason: "learning rate fell to 1/8 of its initial value" });

    const early = lines((await runNode("cli/dist/main.js", ["train", "--sizes", "784,10,10", "--epochs", "50", "--train-limit", "500", "--eta", "1e-9", "--early-stop", "3", "--json"])).stdout);
    expect(early.at(-1)).toMatchObject({ epochs: 4, bestEpoch: 0, stopReason: "no improvement in 3 epochs" });
  });

  const corrupt = join(dir, "corrupt.json");
  writeFileSync(corrupt, JSON.stringify({ sizes: [784, 30, 10], weights: [[[1]]], biases: [], cost: "CrossEntropyCost" }));
  it.each([
    [["train", "--eta", "0"], "--eta: eta is 0; allowed: a learning rate from 1e-20 to 1000000"],
    [["train", "--sizes", "785,30,10"], "--sizes: sizes[0] is 785; allowed: 784"],
    [["train", "--sizes", "784,x,10"], '--sizes is "784,x,10"; allowed: comma-separated whole numbers'],
    [["train", "--mb", "0"], "--mb: miniBatch is 0; allowed"],
    [["train", "--lambda=-1"], "--lambda: lambda is -1; allowed"],
    [["train", "--lambda", "-1"], "--lambda: a value starting with a dash must be written --lambda=VALUE"],
    [["train", "--dropout", "1"], "--dropout: dropout is 1; allowed: a fraction in [0, 1)"],
    [["train", "--momentum", "1.5"], "--momentum: momentum is 1.5; allowed"],
    [["train", "--cost", "hinge"], '--cost is "hinge"; allowed: one of cross-entropy, quadratic, log-likelihood'],
    [["train", "--activation", "gelu"], '--activation is "gelu"; allowed: one of sigmoid, tanh, relu'],
    [["train", "--monitor", "eval-accuracy,loss"], '--monitor is \"eval-accuracy,loss\"; allowed'],
    [["train", "--augment", "rotate=400"], "--augment: augment.rotateDegrees is 400; allowed: degrees from 0 to 180"],
    [["train", "--augment", "blur"], 'bad item "blur"'],
    [["train", "--train-limit", "60000"], "--train-limit: trainLimit is 60000; allowed"],
    [["train", "--early-stop=-2"], '--early-stop is \"-2\"; allowed'],
    [["train", "--data-dir", "/nonexistent", "--epochs", "1"], "/nonexistent/train-images-idx3-ubyte: not found"],
    [["train", "--frobnicate"], "Unknown option '--frobnicate'"],
    [["evaluate"], "--model FILE is required"],
    [["evaluate", "--model", "/nonexistent/model.json"], "no such file"],
    [["evaluate", "--model", corrupt], corrupt],
    [["evaluate", "--model", corrupt, "--on", "training"], '--on is "training"; allowed: one of test, validation'],
  ])("rejects %j with exit 2 and one line", async (args, message) => {
    const result = await runNode("cli/dist/main.js", args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const errorLines = result.stderr.trim().split("\n");
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain(message);
  });
});
