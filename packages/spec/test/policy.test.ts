import { describe, expect, it } from "vitest";
import { decideEpoch, initialPolicyState, replayDecisions, resolveStopping, type EpochDecision, type ReplayedDecision, type StoppingRules } from "../src/index.js";

const rules = (overrides: Partial<StoppingRules>): StoppingRules => ({ ...resolveStopping(undefined), ...overrides });

/** Accuracies (cost 1 - accuracy), or [accuracy, cost] pairs. */
function replay(figures: (number | [number, number])[], stopping: StoppingRules, epochs = 1000, eta0 = 0.5): ReplayedDecision[] {
  const pairs = figures.map((figure) => (typeof figure === "number" ? { accuracy: figure, cost: 1 - figure } : { accuracy: figure[0], cost: figure[1] }));
  return replayDecisions(eta0, stopping, pairs, epochs);
}

describe("the epoch policy", () => {
  it("trains exactly `epochs` epochs with no rule", () => {
    const decisions = replay([0.9, 0.8, 0.7, 0.6], rules({}), 3);
    expect(decisions.map((d) => d.decision)).toEqual(["continue", "continue", "stop"]);
    expect(decisions[2].reason).toBe("completed 3 epochs");
  });

  it("stops after N epochs without a new best (no-improvement-in-N)", () => {
    const decisions = replay([0.90, 0.95, 0.94, 0.95, 0.96, 0.9, 0.9, 0.9, 0.99], rules({ earlyStopPatience: 3 }));
    // Best at epoch 1 (0.95; the equal 0.95 at epoch 3 is no improvement), then epoch 4 (0.96); stop at epoch 7.
    expect(decisions.map((d) => d.decision)).toEqual(["continue", "continue", "continue", "continue", "continue", "continue", "continue", "stop"]);
    expect(decisions.at(-1)?.reason).toBe("no improvement in 3 epochs");
  });

  it("halves eta on each plateau of M epochs and stops when it has fallen 1024-fold", () => {
    const flat = Array.from({ length: 100 }, (_, epoch) => (epoch === 0 ? 0.5 : 0.4));
    const decisions = replay(flat, rules({ decayAfter: 2 }), 1000, 0.8);
    const decays = decisions.filter((d) => d.decision === "decay-eta").map((d) => d.eta);
    expect(decays).toEqual([0.4, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625]);
    const last = decisions.at(-1)!;
    expect(last.decision).toBe("stop");
    expect(last.reason).toBe("learning rate fell to 1/1024 of its initial value");
    // 9 decays every 2 epochs after the best at epoch 0, the 10th would reach eta0/1024 at epoch 20.
    expect(decisions).toHaveLength(21);
  });

  it("counts the decay plateau from the last improvement or decay, whichever is later", () => {
    const decisions = replay([0.5, 0.5, 0.5, 0.6, 0.6, 0.6, 0.6], rules({ decayAfter: 2 }));
    expect(decisions.map((d) => d.decision)).toEqual(["continue", "continue", "decay-eta", "continue", "continue", "decay-eta", "continue"]);
  });

  it("defaults to the chapter's rules: accuracy watched, no margin, no cooldown, counted from epoch 0, no restore", () => {
    expect(resolveStopping(undefined)).toEqual({
      metric: "eval-accuracy",
      earlyStopPatience: 0,
      decayAfter: 0,
      decayFactor: 0.5,
      minEtaFraction: 1 / 1024,
      minEta: 0,
      minDelta: 0,
      cooldown: 0,
      startFromEpoch: 0,
      restoreBestOnDecay: false,
    });
  });
});

const names = (decisions: EpochDecision[]) => decisions.map((d) => d.decision);

describe("the schedule knobs", () => {
  it("metric eval-cost: lower is better, judged on cost whatever the accuracy does", () => {
    // Accuracy rises throughout, cost turns up after epoch 1: on cost the run has not improved since epoch 1.
    const figures: [number, number][] = [[0.90, 0.50], [0.91, 0.40], [0.92, 0.45], [0.93, 0.46], [0.94, 0.47]];
    expect(names(replay(figures, rules({ earlyStopPatience: 3 })))).toEqual(["continue", "continue", "continue", "continue", "continue"]);
    const onCost = replay(figures, rules({ metric: "eval-cost", earlyStopPatience: 3 }));
    expect(names(onCost)).toEqual(["continue", "continue", "continue", "continue", "stop"]);
    expect(onCost.map((d) => d.improved)).toEqual([true, true, false, false, false]);
  });

  it("a cost that is not a number (a diverged network) never counts as an improvement", () => {
    const decisions = replay([[0.1, Number.NaN], [0.1, Number.NaN], [0.1, Number.NaN]], rules({ metric: "eval-cost", earlyStopPatience: 2 }));
    expect(decisions.map((d) => d.improved)).toEqual([false, false]);
    expect(names(decisions)).toEqual(["continue", "stop"]);
  });

  it("minDelta: only a gain of more than the margin is an improvement, on either metric", () => {
    const accuracies = [0.9, 0.905, 0.909, 0.912, 0.913, 0.914];
    expect(replay(accuracies, rules({ earlyStopPatience: 3 })).map((d) => d.improved)).toEqual([true, true, true, true, true, true]);
    const margin = replay(accuracies, rules({ earlyStopPatience: 3, minDelta: 0.01 }));
    // 0.912 beats 0.9 by more than 0.01; nothing after it beats 0.912 by more than 0.01.
    expect(margin.map((d) => d.improved)).toEqual([true, false, false, true, false, false]);
    const onCost = replay([[0.9, 0.5], [0.9, 0.495], [0.9, 0.489], [0.9, 0.488]], rules({ metric: "eval-cost", minDelta: 0.01 }));
    expect(onCost.map((d) => d.improved)).toEqual([true, false, true, false]);
  });

  it("cooldown: the decay rule waits that many epochs after a decay before it counts again", () => {
    const flat = [0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4];
    const without = replay(flat, rules({ decayAfter: 2 }));
    expect(without.flatMap((d, epoch) => (d.decision === "decay-eta" ? [epoch] : []))).toEqual([2, 4, 6, 8]);
    const withCooldown = replay(flat, rules({ decayAfter: 2, cooldown: 2 }));
    expect(withCooldown.flatMap((d, epoch) => (d.decision === "decay-eta" ? [epoch] : []))).toEqual([2, 6]);
    // Early stopping ignores the cooldown: it counts from the best epoch only.
    expect(names(replay(flat, rules({ decayAfter: 2, cooldown: 5, earlyStopPatience: 4 }))).at(-1)).toBe("stop");
    expect(replay(flat, rules({ decayAfter: 2, cooldown: 5, earlyStopPatience: 4 }))).toHaveLength(5);
  });

  it("startFromEpoch: no stop and no decay before it; the best is still tracked from epoch 0", () => {
    const falling = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];
    expect(replay(falling, rules({ earlyStopPatience: 2 }))).toHaveLength(3);
    const late = replay(falling, rules({ earlyStopPatience: 2, decayAfter: 1, startFromEpoch: 5 }));
    // Plateaus count from epoch 5: a decay after one epoch of it (epoch 5), the stop after two (epoch 6).
    expect(names(late)).toEqual(["continue", "continue", "continue", "continue", "continue", "decay-eta", "stop"]);
    expect(late[0]!.improved).toBe(true);
    // A new best after startFromEpoch restarts the count as usual.
    expect(names(replay([0.5, 0.4, 0.4, 0.6, 0.5, 0.5], rules({ earlyStopPatience: 2, startFromEpoch: 2 })))).toEqual(["continue", "continue", "continue", "continue", "continue", "stop"]);
  });

  it("minEta: an absolute floor beside the fraction; whichever is reached first stops the run", () => {
    const flat = Array.from({ length: 100 }, (_, epoch) => (epoch === 0 ? 0.5 : 0.4));
    const floor = replay(flat, rules({ decayAfter: 1, minEta: 0.1 }), 1000, 0.8);
    expect(floor.filter((d) => d.decision === "decay-eta").map((d) => d.eta)).toEqual([0.4, 0.2]);
    expect(floor.at(-1)!.reason).toBe("learning rate fell to its floor 0.1");
    const fraction = replay(flat, rules({ decayAfter: 1, minEta: 1e-9 }), 1000, 0.8);
    expect(fraction.at(-1)!.reason).toBe("learning rate fell to 1/1024 of its initial value");
  });

  it("restoreBestOnDecay: each decay names the best epoch to train on from; never without the knob", () => {
    const accuracies = [0.5, 0.7, 0.6, 0.6, 0.8, 0.75, 0.7, 0.7];
    const restoring = replay(accuracies, rules({ decayAfter: 2, restoreBestOnDecay: true }));
    expect(restoring.flatMap((d, epoch) => (d.decision === "decay-eta" ? [[epoch, d.restoreEpoch]] : []))).toEqual([
      [3, 1],
      [6, 4],
    ]);
    expect(restoring.every((d) => d.decision === "decay-eta" || d.restoreEpoch === undefined)).toBe(true);
    expect(replay(accuracies, rules({ decayAfter: 2 })).some((d) => d.restoreEpoch !== undefined)).toBe(false);
  });

  it("a replay is the same decisions as deciding epoch by epoch", () => {
    const accuracies = [0.5, 0.7, 0.6, 0.6, 0.8, 0.75, 0.7, 0.7, 0.7, 0.7];
    const stopping = rules({ decayAfter: 2, earlyStopPatience: 5, restoreBestOnDecay: true });
    let state = initialPolicyState(0.5);
    const stepwise: EpochDecision[] = [];
    for (const [epoch, accuracy] of accuracies.entries()) {
      const step = decideEpoch(state, stopping, epoch, { accuracy, cost: 0 }, 1000);
      state = step.state;
      stepwise.push(step.decision);
      if (step.decision.decision === "stop") break;
    }
    expect(replay(accuracies, stopping).map(({ epoch: _epoch, ...decision }) => decision)).toEqual(stepwise);
  });
});
