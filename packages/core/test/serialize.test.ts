import { describe, expect, it } from "vitest";
import { InvalidArgument } from "@mnist/errors";
import {
  CoreError,
  createNetwork,
  createTrainingState,
  decodeCheckpoint,
  encodeCheckpoint,
  loadNetworkJson,
  networkToJson,
  predict,
  saveNetworkJson,
  trainBatches,
} from "../src/index.js";
import { testData } from "./reference.js";

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof CoreError || e instanceof InvalidArgument) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected a CoreError");
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe("the chapter's JSON format", () => {
  it("reads a file written by network2.save and predicts what the formula gives", () => {
    // As json.dump writes it from network2: biases are column vectors, numbers are float64.
    const text = `{"sizes": [2, 2, 1], "weights": [[[1.0, -1.0], [0.5, 0.5]], [[2.0, -3.0]]], "biases": [[[0.0], [0.1]], [[-0.5]]], "cost": "CrossEntropyCost"}`;
    const network = loadNetworkJson(text, "hand.json");
    expect(network.spec).toEqual({ sizes: [2, 2, 1], activation: "sigmoid", cost: "cross-entropy", init: "default" });
    const x = Float32Array.from([1, 0.5]);
    const hidden = [sigmoid(1 * 1 - 1 * 0.5 + 0), sigmoid(0.5 * 1 + 0.5 * 0.5 + 0.1)];
    const expected = sigmoid(2 * hidden[0]! - 3 * hidden[1]! - 0.5);
    expect(predict(network, x, 1)[0]).toBeCloseTo(expected, 6);
  });

  it("writes what network2.load reads: sizes, [rows][cols] weights, [rows][1] biases, the cost's class name", () => {
    const network = createNetwork({ sizes: [3, 2, 2], cost: "quadratic" }, 1);
    const json = JSON.parse(saveNetworkJson(network));
    expect(Object.keys(json).sort()).toEqual(["biases", "cost", "sizes", "weights"]);
    expect(json.cost).toBe("QuadraticCost");
    expect(json.weights[0]).toHaveLength(2);
    expect(json.weights[0][1]).toHaveLength(3);
    expect(json.weights[0][1][2]).toBeCloseTo(network.params[5]!, 7); // row 1, column 2 of W_0
    expect(json.biases[1]).toEqual([[expect.any(Number)], [expect.any(Number)]]);
  });

  it("round-trips every parameter exactly, with the extensions for activation and softmax", () => {
    const network = createNetwork({ sizes: [5, 7, 3], activation: "relu", cost: "log-likelihood" }, 3);
    const json = networkToJson(network);
    expect(json.cost).toBe("LogLikelihoodCost");
    expect(json.activation).toBe("relu");
    const back = loadNetworkJson(JSON.stringify(json));
    expect(back.spec.activation).toBe("relu");
    expect(back.spec.cost).toBe("log-likelihood");
    expect(Array.from(back.params)).toEqual(Array.from(network.params));
  });

  const good = () => ({ sizes: [3, 2], weights: [[[1, 2, 3], [4, 5, 6]]], biases: [[[1], [2]]], cost: "CrossEntropyCost" });
  const cases: [string, (j: ReturnType<typeof good> & Record<string, unknown>) => void, RegExp][] = [
    ["a short weight row", (j) => j.weights[0]![1]!.pop(), /weights\[0\]\[1\] has 2 entries, sizes say 3/],
    ["a missing weight row", (j) => j.weights[0]!.pop(), /weights\[0\] has 1 rows, sizes say 2/],
    ["a missing layer", (j) => (j.sizes = [3, 2, 2]), /weights has 1 layers, sizes say 2/],
    ["a non-number", (j) => ((j.weights[0]![0] as unknown[])[1] = "x"), /weights\[0\]\[0\]\[1\] is "x"/],
    ["a null bias", (j) => ((j.biases[0] as unknown[])[1] = [null]), /biases\[0\]\[1\]\[0\] is null/],
    ["an unknown cost", (j) => (j.cost = "HingeCost"), /cost is "HingeCost"; expected one of CrossEntropyCost/],
    ["an unknown activation", (j) => (j.activation = "swish"), /activation is "swish"/],
    ["bad sizes", (j) => (j.sizes = [3, 0]), /sizes\[1\] is 0/],
  ];
  for (const [what, spoil, message] of cases) {
    it(`rejects ${what} naming the field`, () => {
      const j = good() as ReturnType<typeof good> & Record<string, unknown>;
      spoil(j);
      const error = codeOf(() => loadNetworkJson(JSON.stringify(j), "net.json"));
      expect(error.code).toBe("CORRUPT_DATA");
      expect(error.message).toMatch(/^net\.json: /);
      expect(error.message).toMatch(message);
    });
  }

  it("rejects text that is not JSON", () => {
    expect(codeOf(() => loadNetworkJson("{nope")).code).toBe("CORRUPT_DATA");
  });
});

describe("binary checkpoints", () => {
  const trained = () => {
    const network = createNetwork({ sizes: [6, 5, 4], activation: "tanh", cost: "quadratic" }, 8);
    const state = createTrainingState(network);
    const { pixels, labels } = testData(20, 6, 4);
    trainBatches(state, pixels, labels, 20, { eta: 0.1, miniBatch: 5, trainSize: 20, seed: 1, momentum: 0.9 });
    return state;
  };

  it("round-trips spec, params and velocities bit for bit", () => {
    const state = trained();
    const bytes = encodeCheckpoint(state.network, state.velocities);
    expect(Buffer.from(bytes.subarray(0, 4)).toString("latin1")).toBe("MNPW");
    const back = decodeCheckpoint(bytes);
    expect(back.network.spec).toEqual(state.network.spec);
    expect(Buffer.from(back.network.params.buffer).equals(Buffer.from(state.network.params.buffer))).toBe(true);
    expect(Buffer.from(back.velocities!.buffer).equals(Buffer.from(state.velocities.buffer))).toBe(true);
    // without velocities
    const plain = decodeCheckpoint(encodeCheckpoint(state.network));
    expect(plain.velocities).toBeUndefined();
    expect(Array.from(plain.network.params)).toEqual(Array.from(state.network.params));
  });

  it("rejects truncation at every length, bad magic, other versions, flipped bits and trailing bytes", () => {
    const bytes = encodeCheckpoint(trained().network);
    for (let length = 0; length < bytes.length; length += 7) {
      const error = codeOf(() => decodeCheckpoint(bytes.subarray(0, length), "ck.bin"));
      expect(error.code).toBe("CORRUPT_DATA");
      expect(error.message).toMatch(/^ck\.bin: /);
    }
    const spoilt = (at: number, value: number) => {
      const copy = bytes.slice();
      copy[at] = value;
      return codeOf(() => decodeCheckpoint(copy)).message;
    };
    expect(spoilt(0, 0x58)).toMatch(/bad magic/);
    expect(spoilt(4, 2)).toMatch(/version 2/);
    expect(spoilt(bytes.length - 40, bytes[bytes.length - 40]! ^ 1)).toMatch(/checksum mismatch/);
    expect(codeOf(() => decodeCheckpoint(Uint8Array.from([...bytes, 0]))).message).toMatch(/unexpected bytes/);
  });
});
