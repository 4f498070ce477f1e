import { describe, expect, it } from "vitest";
import { Scheduler } from "@mnist/protocol";
import { InvalidArgument } from "@mnist/errors";
import { ashaRungs, emptySweepState, percentile, resolveScheduler, schedule, type SchedulerRules, type SweepState } from "../src/index.js";

const asha = (overrides: Partial<SchedulerRules> = {}): SchedulerRules => ({ ...resolveScheduler({ kind: Scheduler.ASHA } as never), ...overrides });
const medianRule = (overrides: Partial<SchedulerRules> = {}): SchedulerRules => ({ ...resolveScheduler({ kind: Scheduler.MEDIAN } as never), ...overrides });
const format = (value: number) => value.toFixed(3);

/** Feeds (trial, epoch, value) reports in order; the verdicts, and the state after them. */
function feed(rules: SchedulerRules, reports: [string, number, number][], epochs = 27, start: SweepState = emptySweepState()) {
  let state = start;
  const verdicts: string[] = [];
  for (const [run, epoch, value] of reports) {
    const step = schedule(state, rules, run, epoch, value, epochs, format);
    state = step.state;
    verdicts.push(step.verdict.stop ? `stop: ${step.verdict.reason}` : "continue");
  }
  return { state, verdicts };
}

describe("the sweep schedulers", () => {
  it("resolves the defaults (no scheduler; grace 1, reduction factor 3, 3 samples) and names a bad field", () => {
    expect(resolveScheduler(undefined)).toEqual({ name: "none", gracePeriod: 1, reductionFactor: 3, minSamples: 3 });
    expect(() => resolveScheduler({ kind: 9 } as never)).toThrow(InvalidArgument);
    expect(() => resolveScheduler({ kind: Scheduler.ASHA, reductionFactor: 1 } as never)).toThrow("scheduler.reductionFactor is 1; allowed: an integer from 2 to 100");
    expect(() => resolveScheduler({ kind: Scheduler.ASHA, gracePeriod: 0 } as never)).toThrow("scheduler.gracePeriod is 0");
  });

  it("puts ASHA's rungs at grace × η^k epochs, short of the trials' last epoch", () => {
    expect(ashaRungs(asha(), 27)).toEqual([1, 3, 9]);
    expect(ashaRungs(asha(), 28)).toEqual([1, 3, 9, 27]);
    expect(ashaRungs(asha({ gracePeriod: 2, reductionFactor: 2 }), 10)).toEqual([2, 4, 8]);
    expect(ashaRungs(asha({ gracePeriod: 5 }), 5)).toEqual([]);
  });

  it("computes percentiles as numpy does (linear interpolation)", () => {
    expect(percentile([0.9], 66.67)).toBe(0.9);
    expect(percentile([0.9, 0.8], (2 / 3) * 100)).toBeCloseTo(0.8 + 0.1 * (2 / 3), 12);
    expect(percentile([0.95, 0.8, 0.9], (2 / 3) * 100)).toBeCloseTo(0.9 + 0.05 * (1 / 3), 12);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
  });

  it("ASHA: at each rung a trial goes on only in the top 1/η of those there before it; the first always goes on", () => {
    const { verdicts, state } = feed(asha(), [
      ["a", 0, 0.9], // rung 1: first there
      ["b", 0, 0.8], // below 0.9
      ["c", 0, 0.95], // above the 2/3 quantile of [0.9, 0.8] (0.8667)
      ["d", 0, 0.85], // below the 2/3 quantile of [0.9, 0.8, 0.95] (0.9167)
      ["a", 1, 0.91], // no rung at 2 epochs
      ["c", 1, 0.96],
      ["a", 2, 0.92], // rung 3: first there
      ["c", 2, 0.9], // below 0.92
    ]);
    expect(verdicts.map((verdict) => verdict.split(":")[0])).toEqual(["continue", "stop", "continue", "stop", "continue", "continue", "continue", "stop"]);
    expect(verdicts[3]).toBe("stop: ASHA: 0.850 at the rung of 1 epochs is below the top 1/3 of the 3 trials there before it (cutoff 0.917)");
    expect(state.rungs.map((rung) => [rung.epochs, rung.entries.map((entry) => entry.run)])).toEqual([
      [1, ["a", "b", "c", "d"]],
      [3, ["a", "c"]],
    ]);
    expect(Object.keys(state.stops).sort()).toEqual(["b", "c", "d"]);
    expect(state.results.a).toEqual([0.9, 0.91, 0.92]);
  });

  it("ASHA: a result that is not a number stops the trial at its rung; a result reported again gets the verdict it had", () => {
    const first = feed(asha(), [
      ["a", 0, 0.9],
      ["b", 0, Number.NaN],
      ["c", 0, 0.5],
    ]);
    expect(first.verdicts).toEqual(["continue", "stop: ASHA: no result at the rung of 1 epochs", expect.stringMatching(/^stop: ASHA: 0\.500/)]);
    // An evaluator restarted after writing the sweep's state, before the run's record: the same answers, no new entries.
    const again = feed(asha(), [
      ["c", 0, 0.5],
      ["a", 0, 0.9],
    ], 27, first.state);
    expect(again.verdicts).toEqual([first.verdicts[2], "continue"]);
    expect(again.state).toEqual(first.state);
  });

  it("median stopping: from the grace period, a trial whose best is below the median of the others' running averages stops", () => {
    const rules = medianRule({ gracePeriod: 2, minSamples: 2 });
    const { verdicts } = feed(rules, [
      ["a", 0, 0.9],
      ["b", 0, 0.8],
      ["c", 0, 0.1], // before the grace period: never judged
      ["a", 1, 0.92], // others at 2 epochs: none yet
      ["b", 1, 0.82], // others: only a
      ["c", 1, 0.5], // best 0.5 < median of a's 0.91 and b's 0.81 averages
      ["d", 0, 0.86],
      ["d", 1, 0.87], // best 0.87 >= median(0.91, 0.81, 0.3) = 0.81
    ]);
    expect(verdicts.map((verdict) => verdict.split(":")[0])).toEqual(["continue", "continue", "continue", "continue", "continue", "stop", "continue", "continue"]);
    expect(verdicts[5]).toBe("stop: median stopping: best result 0.500 in 2 epochs is below the median 0.860 of 2 other trials' running averages");
  });

  it("no scheduler: records the results and never stops a trial", () => {
    const { verdicts, state } = feed(resolveScheduler(undefined), [
      ["a", 0, 0.9],
      ["b", 0, 0.1],
    ]);
    expect(verdicts).toEqual(["continue", "continue"]);
    expect(state.rungs).toEqual([]);
  });
});
