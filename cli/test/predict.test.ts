import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetwork, createTrainingState, loadMnist, predict, saveNetworkJson, sliceDataset, trainEpoch, type Network } from "@mnist/core";
import { runNode } from "../../test/harness/services.js";
import { predictDigit } from "../src/commands/predict.js";
import { digitFromImage } from "../src/digit.js";

const dir = mkdtempSync(join(tmpdir(), "mnistctl-predict-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mnist = loadMnist();

/** [784,30,10] trained in-process on 5,000 MNIST images for two epochs: seconds, about 90 % right. */
function trained(cost: "cross-entropy" | "log-likelihood"): Network {
  const network = createNetwork({ sizes: [784, 30, 10], cost }, 7n);
  const state = createTrainingState(network);
  const data = sliceDataset(mnist.training, 0, 5000);
  for (let epoch = 0; epoch < 2; epoch++) trainEpoch(state, data, { eta: cost === "log-likelihood" ? 0.1 : 0.5, miniBatch: 10, seed: 7n, epoch });
  return network;
}

function testImage(index: number): Uint8Array {
  return mnist.test.pixels.subarray(index * 784, (index + 1) * 784);
}

/** An MNIST test digit enlarged to 112×112, white on black as MNIST stores it, or inverted as ink on paper. */
async function writeDigitImage(index: number, format: "png" | "jpeg", inverted = false): Promise<string> {
  const pixels = inverted ? testImage(index).map((value) => 255 - value) : testImage(index);
  const image = sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).resize(112, 112);
  const path = join(dir, `test-${index}${inverted ? "-inverted" : ""}.${format === "png" ? "png" : "jpg"}`);
  await (format === "png" ? image.png() : image.jpeg({ quality: 92 })).toFile(path);
  return path;
}

const lines = (text: string) => text.trim().split("\n");

let sigmoidNet: Network;
let softmaxNet: Network;
let sigmoidModel: string;
let softmaxModel: string;

beforeAll(() => {
  sigmoidNet = trained("cross-entropy");
  softmaxNet = trained("log-likelihood");
  sigmoidModel = join(dir, "sigmoid.json");
  softmaxModel = join(dir, "softmax.json");
  writeFileSync(sigmoidModel, saveNetworkJson(sigmoidNet));
  writeFileSync(softmaxModel, saveNetworkJson(softmaxNet));
});

describe("predictDigit", () => {
  it("normalises a sigmoid network's ten outputs to sum to 1 and picks the largest", () => {
    const pixels = testImage(0);
    const outputs = Array.from(predict(sigmoidNet, pixels, 1));
    const { digit, probabilities } = predictDigit(sigmoidNet, pixels);
    const sum = outputs.reduce((total, value) => total + value, 0);
    expect(probabilities).toEqual(outputs.map((value) => value / sum));
    expect(probabilities.reduce((total, value) => total + value, 0)).toBeCloseTo(1, 12);
    expect(digit).toBe(outputs.indexOf(Math.max(...outputs)));
  });

  it("passes a log-likelihood network's softmax outputs through: they are probabilities already", () => {
    const pixels = testImage(1);
    const outputs = Array.from(predict(softmaxNet, pixels, 1));
    const { digit, probabilities } = predictDigit(softmaxNet, pixels);
    expect(probabilities).toEqual(outputs);
    expect(probabilities.reduce((total, value) => total + value, 0)).toBeCloseTo(1, 5);
    expect(digit).toBe(outputs.indexOf(Math.max(...outputs)));
  });

  it("rejects a network that does not fit MNIST", () => {
    const small = createNetwork({ sizes: [784, 10, 5] }, 1n);
    expect(() => predictDigit(small, testImage(0))).toThrow(/sizes\[2\] is 5; allowed: 10/);
  });
});

describe("mnistctl predict", () => {
  it("classifies enlarged MNIST test digits the way the same network does in-process on the prepared pixels", async () => {
    // The first test images the network gets right after digitFromImage's preparation.
    const chosen: { index: number; path: string; probabilities: number[] }[] = [];
    for (let index = 0; chosen.length < 5 && index < 50; index++) {
      const path = await writeDigitImage(index, "png");
      const prediction = predictDigit(sigmoidNet, await digitFromImage(path));
      if (prediction.digit === mnist.test.labels[index]) chosen.push({ index, path, probabilities: prediction.probabilities });
    }
    expect(chosen).toHaveLength(5);
    for (const { index, path, probabilities } of chosen) {
      const result = await runNode("cli/dist/main.js", ["predict", path, "--model", sigmoidModel, "--json"]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(lines(result.stdout)).toHaveLength(1);
      const printed = JSON.parse(result.stdout) as { digit: number; probabilities: number[] };
      expect(Object.keys(printed)).toEqual(["digit", "probabilities"]);
      expect(printed.digit).toBe(mnist.test.labels[index]);
      expect(printed.probabilities).toHaveLength(10);
      // The model file holds 9 significant digits of each float32: the same network, bit for bit.
      expect(printed.probabilities).toEqual(probabilities);
    }
  });

  it("reads a JPEG of dark ink on light paper, and prints a readable table without --json", async () => {
    let index = 0;
    let expected = -1;
    let path = "";
    for (; index < 50; index++) {
      path = await writeDigitImage(index, "jpeg", true);
      expected = predictDigit(sigmoidNet, await digitFromImage(path)).digit;
      if (expected === mnist.test.labels[index]) break;
    }
    expect(expected).toBe(mnist.test.labels[index]);
    const result = await runNode("cli/dist/main.js", ["predict", path, "--model", sigmoidModel]);
    expect(result.code).toBe(0);
    const text = lines(result.stdout);
    expect(text[0]).toMatch(new RegExp(`^digit ${expected} \\(probability 0\\.\\d{4}\\)$`));
    expect(text[1]).toBe("sigmoid outputs normalised to sum to 1:");
    expect(text.slice(2).map((line) => line.trim().split(/\s+/)[0])).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  });

  it("says softmax for a log-likelihood network, whose outputs it prints as they are", async () => {
    const path = await writeDigitImage(2, "png");
    const expected = predictDigit(softmaxNet, await digitFromImage(path));
    const result = await runNode("cli/dist/main.js", ["predict", path, "--model", softmaxModel]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout)[0]).toBe(`digit ${expected.digit} (probability ${expected.probabilities[expected.digit]!.toFixed(4)})`);
    expect(lines(result.stdout)[1]).toBe("softmax outputs:");
  });

  it("explains the normalisation in --help", async () => {
    const result = await runNode("cli/dist/main.js", ["predict", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("usage: mnistctl predict IMAGE (--model FILE | --run ID [--server HOST:PORT]) [--json]");
    expect(result.stdout).toContain("sigmoid outputs, which are normalised to sum to 1");
    expect(result.stdout).toContain("log-likelihood cost have softmax");
  });

  const notAnImage = join(dir, "notes.png");
  writeFileSync(notAnImage, "a shopping list\n");
  const blank = join(dir, "blank.png");
  const badModel = join(dir, "bad-model.json");
  writeFileSync(badModel, JSON.stringify({ sizes: [784, 30, 10], weights: [], biases: [], cost: "CrossEntropyCost" }));
  const missing = join(dir, "missing.png");
  it.each([
    [["predict", "digit.png"], "mnistctl predict: one of --model FILE (a network in the chapter's JSON format) or --run ID (a cluster run's best network) is required"],
    [["predict", "--model", "model.json"], "mnistctl predict: IMAGE is required (a PNG or JPEG of one digit)"],
    [["predict", "a.png", "b.png", "--model", "model.json"], 'mnistctl predict: one IMAGE at a time; got 2: "a.png" "b.png"'],
    [["predict", "digit.png", "--run", "run-7", "--model", "model.json"], "mnistctl predict: one of --model FILE"],
    [["predict", "digit.png", "--model"], "mnistctl predict: Option '--model <value>' argument missing"],
    [["predict", "digit.png", "--modle", "x"], "mnistctl predict: Unknown option '--modle'"],
    ["missing image", `mnistctl predict: ${missing}: cannot read it: no such file`],
    ["not an image", `mnistctl predict: ${notAnImage}: not a PNG or JPEG image sharp can decode`],
    ["blank image", `mnistctl predict: ${blank}: no digit: the 50×50 image is blank`],
    ["missing model", `mnistctl predict: --model ${join(dir, "absent.json")}: ENOENT`],
    ["bad model", `mnistctl predict: ${badModel}: weights has 0 layers, sizes say 2`],
    ["image as model", `mnistctl predict: ${notAnImage}: not JSON`],
  ])("rejects %j with exit 2 and one line", async (args, message) => {
    await sharp({ create: { width: 50, height: 50, channels: 3, background: "white" } }).png().toFile(blank);
    const digit = await writeDigitImage(0, "png");
    const argv: Record<string, string[]> = {
      "missing image": ["predict", missing, "--model", sigmoidModel],
      "not an image": ["predict", notAnImage, "--model", sigmoidModel],
      "blank image": ["predict", blank, "--model", sigmoidModel],
      "missing model": ["predict", digit, "--model", join(dir, "absent.json")],
      "bad model": ["predict", digit, "--model", badModel],
      "image as model": ["predict", digit, "--model", notAnImage],
    };
    const result = await runNode("cli/dist/main.js", typeof args === "string" ? argv[args]! : args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const errors = lines(result.stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
  });

  it("keeps a model file's unprintable bytes to one line", async () => {
    const png = await writeDigitImage(3, "png");
    const result = await runNode("cli/dist/main.js", ["predict", png, "--model", png]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain(`mnistctl predict: ${png}: not JSON`);
  });
});
