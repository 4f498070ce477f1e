import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, GrpcStatusError, status } from "@mnist/grpc";
import { RunService } from "@mnist/protocol";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";
import { jsonLines } from "../harness/intact.js";

/**
 * Steering a live run: `mnistctl set` changes its stopping rules from the next decision on, the
 * change and every decision go into the run's audit trail, and both outlive the evaluator that
 * took them; `--dry-run` replays recorded epochs through other rules without changing anything.
 */

interface EventJson {
  epoch?: number;
  kind: string;
  actor: string;
  reason?: string;
  detail?: string;
}
interface RecordJson {
  state: string;
  stopReason: string;
  epochs: { epoch?: number }[];
  events: EventJson[];
}

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ cliEnv: { MNISTCTL_ACTOR: "alice" } });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const record = async (runId: string) => JSON.parse((await cluster.cli(["get", runId, "--json"])).stdout) as RecordJson;

describe("mnistctl set and the audit trail", () => {
  let runId = "";

  it("changes a running run's rules, which outlive an evaluator restart, with every change and decision in the audit trail", async () => {
    // eta 1e-9 learns nothing: epoch 0 stays the best, so only the rules decide when the run ends.
    const launched = await cluster.cli(["run", "--sizes", "784,10,10", "--train-limit", "2000", "--epochs", "1000", "--eta", "1e-9"]);
    expect(launched.stderr).toBe("");
    runId = launched.stdout.trim();
    await waitForLog(cluster.evaluator, (line) => line.msg === "epoch" && line.run === runId && line.epoch === 1);
    // Far enough ahead for the change to land first: epochs of 2000 images take a few tens of milliseconds.
    const startFrom = (await record(runId)).epochs.length + 60;
    const set = await cluster.cli(["set", runId, "early-stop=2", `start-from-epoch=${startFrom}`, "--reason", "a plateau"]);
    expect(set.stderr).toBe("");
    const changed = new RegExp(`^run ${runId}: early_stop_patience=2, start_from_epoch=${startFrom}, from the decision on epoch (\\d+)\\n$`).exec(set.stdout);
    expect(Number(changed?.[1]), "the run reached start-from-epoch before the change: start it further ahead").toBeLessThan(startFrom);

    // The evaluator that took the change dies; its successor reads the rules from the record.
    cluster.evaluator.child.kill("SIGKILL");
    await cluster.evaluator.exited;
    await cluster.startEvaluator();
    const watched = await cluster.cli(["watch", runId, "--json"]);
    const finished = jsonLines(watched.stdout).at(-1)!;
    // Plateaus count from startFrom: two epochs without improvement end the run at startFrom + 1.
    expect(finished).toMatchObject({ state: "finished", stopReason: "no improvement in 2 epochs", epochs: startFrom + 2 });

    const { events } = await record(runId);
    expect(events[0]).toMatchObject({ kind: "launch", actor: expect.stringMatching(/^alice \(/) });
    const changes = events.filter((event) => event.kind === "change");
    expect(changes).toEqual([
      expect.objectContaining({ actor: expect.stringMatching(/^alice \(.*127\.0\.0\.1/), reason: "a plateau", detail: `early_stop_patience=2, start_from_epoch=${startFrom}` }),
    ]);
    // Each epoch decided once, by the evaluator, in order, whatever the restart repeated.
    const decisions = events.filter((event) => ["continue", "stop"].includes(event.kind));
    expect(decisions.map((event) => event.epoch ?? 0)).toEqual(Array.from({ length: startFrom + 2 }, (_, epoch) => epoch));
    expect(decisions.every((event) => event.actor === "evaluator")).toBe(true);
    expect(decisions.at(-1)).toMatchObject({ kind: "stop", reason: "no improvement in 2 epochs" });
    expect(decisions[0]).toMatchObject({ reason: "new best" });

    const shown = await cluster.cli(["get", runId]);
    expect(shown.stdout).toMatch(/audit trail:\n\s*time\s+epoch\s+event\s+by\s+reason\s+detail\n/);
    expect(shown.stdout).toMatch(/change\s+alice \(.*a plateau\s+early_stop_patience=2/);
    expect(shown.stdout).toMatch(new RegExp(`1-\\d+\\s+continue\\s+evaluator`));
  });

  it("replays a finished run's epochs through other rules with --dry-run, changing nothing", async () => {
    const before = await record(runId);
    const dry = await cluster.cli(["set", runId, "early-stop=0", "decay-after=1", "min-eta-fraction=0.25", "start-from-epoch=0", "--dry-run", "--json"]);
    expect(dry.stderr).toBe("");
    const { replay } = JSON.parse(dry.stdout) as { replay: { epoch?: number; recorded: string; replayed: string; eta: number; reason: string }[] };
    expect(replay.map((epoch) => [epoch.epoch ?? 0, epoch.recorded, epoch.replayed])).toEqual([
      [0, "continue", "continue"],
      [1, "continue", "decay-eta"],
      [2, "continue", "stop"],
    ]);
    expect(replay[1]!.eta).toBeCloseTo(5e-10, 20);
    expect(replay[2]!.reason).toBe("learning rate fell to 1/4 of its initial value");
    expect((await record(runId)).events).toEqual(before.events);

    const table = await cluster.cli(["set", runId, "early-stop=1", "--dry-run"]);
    expect(table.stdout).toMatch(/epoch\s+recorded\s+would decide\s+eta after\s+reason/);
    expect(table.stdout).toContain(`the changed rules would have stopped run ${runId} after epoch`);
  });

  it("refuses bad changes in one line naming the key, and changes to an ended run", async () => {
    const negative = await cluster.cli(["set", runId, "min-delta=-1"]);
    expect(negative.code).toBe(2);
    expect(negative.stderr.trim()).toBe("mnistctl set: min-delta: stopping.minDelta is -1; allowed: a margin of at least 0");
    const unknown = await cluster.cli(["set", runId, "patience=3"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^mnistctl set: "patience=3" is not KEY=VALUE with KEY one of eta, early-stop, /);
    const metric = await cluster.cli(["set", runId, "metric=loss"]);
    expect(metric.stderr.trim()).toBe('mnistctl set: --metric is "loss"; allowed: one of eval-accuracy, eval-cost');
    const ended = await cluster.cli(["set", runId, "early-stop=5"]);
    expect(ended.code).toBe(1);
    expect(ended.stderr.trim()).toBe(`mnistctl set: FAILED_PRECONDITION: run "${runId}" has already ended`);

    const client = createClient(RunService, cluster.server);
    try {
      const refused = async (request: Parameters<typeof client.updateRun>[0]) => {
        const error = (await client.updateRun(request).catch((caught: unknown) => caught)) as GrpcStatusError;
        expect(error).toBeInstanceOf(GrpcStatusError);
        return error;
      };
      const noMask = await refused({ runId, dryRun: true });
      expect([noMask.code, noMask.message]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(/^update_mask\.paths is \[\]; allowed: one or more of eta, stopping\.early_stop_patience/)]);
      const badPath = await refused({ runId, dryRun: true, updateMask: create(FieldMaskSchema, { paths: ["stopping.cooldown", "spec.eta"] }) });
      expect([badPath.code, badPath.message]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(/^update_mask\.paths\[1\] is "spec\.eta"; allowed: one of eta/)]);
      const badRule = await refused({ runId, dryRun: true, stopping: { decayFactor: 2 }, updateMask: create(FieldMaskSchema, { paths: ["stopping.decay_factor"] }) });
      expect([badRule.code, badRule.message]).toEqual([status.INVALID_ARGUMENT, "stopping.decayFactor is 2; allowed: a factor from 0.001 to less than 1"]);
      const missing = await refused({ runId: "run-nope", updateMask: create(FieldMaskSchema, { paths: ["eta"] }), eta: 0.1 });
      expect(missing.code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });
});
