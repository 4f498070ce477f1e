import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RunRecordSchema, RunState, TrainerInfoSchema, type RunRecord, type TrainerInfo } from "@mnist/protocol";
import { announcedHolder, freestTrainer, orphanedRuns, queuedRuns, trainerLoad } from "../src/placement.js";

/** What a placement pass decides, from the runs and heartbeats it sees. */

const run = (runId: string, state: RunState, trainerId = ""): RunRecord => create(RunRecordSchema, { runId, state, trainerId });
const trainer = (trainerId: string, maxRuns: number, runIds: string[] = []): TrainerInfo => create(TrainerInfoSchema, { trainerId, address: `${trainerId}:50052`, maxRuns, runIds });

describe("placement", () => {
  const active = [
    run("run-3", RunState.QUEUED),
    run("run-1", RunState.RUNNING, "t-a"),
    run("run-2", RunState.QUEUED),
    run("run-4", RunState.RUNNING, "t-gone"),
    run("run-0", RunState.RUNNING, "t-b"),
  ];
  const trainers = [trainer("t-a", 2), trainer("t-b", 4, ["run-0", "run-9"]), trainer("t-c", 1)];

  it("places queued runs oldest first", () => {
    expect(queuedRuns(active).map((queued) => queued.runId)).toEqual(["run-2", "run-3"]);
  });

  it("finds the running runs of trainers no longer seen", () => {
    expect(orphanedRuns(active, trainers).map((orphan) => orphan.runId)).toEqual(["run-4"]);
  });

  it("counts a trainer's runs from its heartbeat and from the records, once each", () => {
    const load = trainerLoad(active, trainers);
    expect([...load.get("t-a")!]).toEqual(["run-1"]);
    expect([...load.get("t-b")!].sort()).toEqual(["run-0", "run-9"]);
    expect(load.get("t-c")!.size).toBe(0);
  });

  it("chooses the trainer with the most free room, passing over those excluded and the full", () => {
    const load = trainerLoad(active, trainers);
    // Free: t-a 1, t-b 2, t-c 1.
    expect(freestTrainer(trainers, load, () => false)?.trainerId).toBe("t-b");
    expect(freestTrainer(trainers, load, (id) => id === "t-b")?.trainerId).toBe("t-a");
    load.get("t-a")!.add("run-2");
    load.get("t-c")!.add("run-3");
    expect(freestTrainer(trainers, load, (id) => id === "t-b")).toBeUndefined();
  });

  it("places a queued run its trainer already trains (an evaluator died between StartRun and the record) back on that trainer", () => {
    const full = [trainer("t-a", 1, ["run-2"]), trainer("t-c", 1)];
    const queued = run("run-2", RunState.QUEUED);
    expect(announcedHolder(queued, full)?.trainerId).toBe("t-a");
    expect(announcedHolder(run("run-3", RunState.QUEUED), full)).toBeUndefined();
  });
});
