import { describe, expect, it } from "vitest";
import { decideEpoch, initialPolicyState, type EpochDecision, type StoppingRules } from "../src/index.js";

const rules = (overrides: Partial<StoppingRules>): StoppingRules => ({ earlyStopPatience: 0, decayAfter: 0, decayFactor: 0.5, minEtaFraction: 1 / 1024, ...overrides });

function replay(accuracies: number[], stopping: StoppingRules, epochs = 1000, eta0 = 0.5): EpochDecision[] {
  let state = initialPolicyState(eta0);
  const decisions: EpochDecision[] = [];
  for (const [epoch, accuracy] of accuracies.entries()) {
    const step = decideEpoch(state, stopping, epoch, accuracy, epochs);
    state = step.state;
    decisions.push(step.decision);
    if (step.decision.decision === "stop") break;
  }
  return decisions;
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
});
