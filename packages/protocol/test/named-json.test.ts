import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Cost, Decision, RunEventKind, RunRecordSchema, RunState, StoppingMetric, SweepRecordSchema, Scheduler, toNamedJson } from "../src/index.js";

describe("toNamedJson", () => {
  it("names every enum value as the flags spell it, in messages, lists and maps, and leaves the rest canonical", () => {
    const record = create(RunRecordSchema, {
      runId: "run-1",
      state: RunState.FINISHED,
      spec: { cost: Cost.CROSS_ENTROPY, stopping: { metric: StoppingMetric.EVAL_COST }, seed: 7n },
      epochs: [{ epoch: 0, decision: Decision.DECAY_ETA, valAccuracy: 0.9 }],
      events: [{ kind: RunEventKind.REQUEUE, time: { seconds: 0n, nanos: 0 } }],
    });
    const json = toNamedJson(RunRecordSchema, record) as Record<string, any>;
    expect(json.state).toBe("finished");
    expect(json.spec.cost).toBe("cross-entropy");
    expect(json.spec.activation).toBe("unspecified");
    expect(json.spec.stopping.metric).toBe("eval-cost");
    expect(json.spec.seed).toBe("7");
    expect(json.epochs[0]).toMatchObject({ epoch: 0, decision: "decay-eta", valAccuracy: 0.9 });
    expect(json.events[0]).toMatchObject({ kind: "requeue", time: "1970-01-01T00:00:00Z" });
    const sweep = toNamedJson(SweepRecordSchema, create(SweepRecordSchema, { scheduler: { kind: Scheduler.ASHA } })) as Record<string, any>;
    expect(sweep.scheduler.kind).toBe("asha");
  });
});
