import { describe, expect, it } from "vitest";
import { costs, specDefaults } from "@mnist/core";
import { Activation, Cost } from "@mnist/protocol";
import { InvalidArgument } from "@mnist/errors";
import { costByName, runSpec } from "../src/index.js";

describe("run specs", () => {
  it("fills the defaults in one place", () => {
    const spec = runSpec({});
    expect(spec).toMatchObject({ sizes: [784, 30, 10], epochs: 30, miniBatch: 10, eta: 0.5, lambda: 0, seed: 1n, activation: "sigmoid", cost: "cross-entropy", init: "default", evalOn: "validation" });
    expect(spec.monitor).toEqual({ trainCost: false, trainAccuracy: false, evalCost: false, evalAccuracy: true, testAccuracy: false });
    expect(spec.stopping).toMatchObject({ metric: "eval-accuracy", earlyStopPatience: 0, decayAfter: 0, decayFactor: 0.5, minEtaFraction: 1 / 1024, restoreBestOnDecay: false });
    expect(spec.augment).toBeUndefined();
  });

  it("maps the protocol's Cost enum onto the core's costs, each once and back to itself", () => {
    expect(costs.map((name) => runSpec({ cost: costByName[name] }).cost)).toEqual([...costs]);
    expect(new Set(costs.map((name) => costByName[name])).size).toBe(costs.length);
    expect(runSpec({ cost: Cost.UNSPECIFIED }).cost).toBe(specDefaults.cost);
  });

  it("keeps what is given", () => {
    const spec = runSpec({ sizes: [784, 100, 10], activation: Activation.TANH, cost: Cost.LOG_LIKELIHOOD, eta: 0.1, lambda: 5, seed: 7n, stopping: { earlyStopPatience: 10 } });
    expect(spec).toMatchObject({ sizes: [784, 100, 10], activation: "tanh", cost: "log-likelihood", eta: 0.1, lambda: 5, seed: 7n });
    expect(spec.stopping.earlyStopPatience).toBe(10);
  });

  it.each([
    [{ sizes: [784] }, "sizes is [784]; allowed: 2 to 17 layer sizes, such as 784,30,10"],
    [{ sizes: [784, ...Array<number>(16).fill(30), 10] }, "; allowed: 2 to 17 layer sizes"],
    [{ sizes: [784, 70_000, 10] }, "sizes[1] is 70000; allowed: an integer from 1 to 65536"],
    // The bug the issue found: every layer within the core's per-layer limit, the whole past its parameter cap.
    [{ sizes: [784, 65_536, 4_096, 10] }, "; allowed: networks of at most 268435456 parameters (this one has 319926282)"],
    [{ sizes: [100, 30, 10] }, "sizes[0] is 100; allowed: 784, the number of pixels of an input image"],
    [{ sizes: [784, 30, 9] }, "sizes[2] is 9; allowed: 10, the number of classes"],
    [{ sizes: [784, 0, 10] }, "sizes[1] is 0; allowed: an integer from 1 to 65536"],
    [{ eta: 0 }, "eta is 0; allowed: a learning rate from 1e-20 to 1000000"],
    [{ eta: Number.NaN }, "eta is NaN; allowed"],
    [{ miniBatch: 0 }, "miniBatch is 0; allowed: an integer from 1 to 50000"],
    [{ epochs: 0 }, "epochs is 0; allowed"],
    [{ epochs: 10_001 }, "epochs is 10001; allowed: an integer from 1 to 10000"],
    [{ lambda: -1 }, "lambda is -1; allowed: a regularisation parameter of at least 0"],
    [{ l1: -0.1 }, "l1 is -0.1; allowed"],
    [{ dropout: 1 }, "dropout is 1; allowed: a fraction in [0, 1)"],
    [{ momentum: 1 }, "momentum is 1; allowed: a coefficient in [0, 1)"],
    [{ nesterov: true }, "nesterov is true; allowed: only with a momentum coefficient greater than 0"],
    [{ activation: 9 }, "activation is 9; allowed: one of 0, 1, 2, 3"],
    [{ cost: 7 }, "cost is 7; allowed"],
    [{ trainLimit: 50_001 }, "trainLimit is 50001; allowed"],
    [{ trainLimit: 5, miniBatch: 10 }, "miniBatch is 10; allowed: at most trainLimit (5)"],
    [{ stopping: { earlyStopPatience: 1.5 } }, "stopping.earlyStopPatience is 1.5; allowed"],
    [{ stopping: { decayFactor: 1 } }, "stopping.decayFactor is 1; allowed: a factor from 0.001 to less than 1"],
    [{ stopping: { minEtaFraction: 0 } }, "stopping.minEtaFraction is 0; allowed"],
    [{ stopping: { metric: 3 } }, "stopping.metric is 3; allowed: one of 0, 1, 2"],
    [{ stopping: { minDelta: -0.01 } }, "stopping.minDelta is -0.01; allowed: a margin of at least 0"],
    [{ stopping: { minDelta: Number.NaN } }, "stopping.minDelta is NaN; allowed"],
    [{ stopping: { cooldown: 2.5 } }, "stopping.cooldown is 2.5; allowed: an integer from 0 to 10000"],
    [{ stopping: { startFromEpoch: 10_001 } }, "stopping.startFromEpoch is 10001; allowed"],
    [{ stopping: { minEta: -1 } }, "stopping.minEta is -1; allowed: 0 (no floor) or a learning rate from 1e-20 to 1000000"],
    [{ augment: { rotateProbability: 1.5 } }, "augment.rotateProbability is 1.5; allowed: a probability from 0 to 1"],
    [{ augment: { rotateDegrees: 200 } }, "augment.rotateDegrees is 200; allowed: degrees from 0 to 180"],
    [{ augment: { elasticProbability: 1, elasticAlpha: 34 } }, "augment.elasticSigma is 0; allowed: greater than 0 when elastic distortion is on"],
  ])("rejects %j naming the field, the value and what is allowed", (init, message) => {
    expect(() => runSpec(init as never)).toThrow(InvalidArgument);
    expect(() => runSpec(init as never)).toThrow(message);
  });
});
