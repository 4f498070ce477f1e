import { afterEach, describe, expect, it } from "vitest";
import { loadMnist } from "@mnist/core";
import { createClient } from "@mnist/grpc";
import { RunService, RunState, Scheduler, type RunRecord } from "@mnist/protocol";
import { emptySweepState, isTerminal, resolveScheduler, runSpec, schedule, type SchedulerRules } from "@mnist/spec";
import { trainLocally } from "@mnist/training";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";
import { jsonLines } from "../harness/intact.js";

/**
 * Sweeps under a scheduler on a real cluster. One trainer with room for one run trains the trials
 * one after another, so the order they reach each rung is the order they started: the test
 * replays that order through the pure scheduler with the trials' in-process twins' accuracies and
 * expects exactly its stops, each trial's epochs and the ranking.
 */

const mnist = loadMnist();
const etas = [0.05, 3, 0.5, 0.01];
const common = { sizes: [784, 10, 10], trainLimit: 1000, epochs: 9, seed: 3n };
const sweepFlags = ["--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "9", "--seed", "3", "--eta", etas.join(",")];

/** Each eta's validation accuracy per epoch, trained in process. */
async function twinAccuracies(): Promise<Map<number, number[]>> {
  const accuracies = new Map<number, number[]>();
  for (const eta of etas) {
    const local = await trainLocally(runSpec({ ...common, eta, monitor: { evalAccuracy: true } }), { mnist });
    accuracies.set(eta, local.epochs.map((epoch) => epoch.valAccuracy!));
  }
  return accuracies;
}

/** What the scheduler decides for trials that ran one after another in `order`: each one's epochs and stop reason. */
function expectedOutcome(rules: SchedulerRules, order: number[], accuracies: Map<number, number[]>) {
  let state = emptySweepState();
  const outcome = new Map<number, { epochs: number; reason?: string }>();
  for (const eta of order) {
    const results = accuracies.get(eta)!;
    let epochs = results.length;
    let reason: string | undefined;
    for (const [epoch, accuracy] of results.entries()) {
      const step = schedule(state, rules, `eta ${eta}`, epoch, accuracy, common.epochs, (value) => `validation accuracy ${(value * 100).toFixed(2)}%`);
      state = step.state;
      if (step.verdict.stop) {
        [epochs, reason] = [epoch + 1, step.verdict.reason];
        break;
      }
    }
    outcome.set(eta, { epochs, reason });
  }
  return outcome;
}

/** The etas of the runs in the order the trainer started them. */
function startOrder(cluster: Cluster, runs: RunRecord[]): number[] {
  const etaOf = new Map(runs.map((run) => [run.runId, run.spec!.eta!]));
  return cluster.trainers[0]!.logs.filter((line) => line.msg === "run started" && etaOf.has(String(line.run))).map((line) => etaOf.get(String(line.run))!);
}

let cluster: Cluster | undefined;
afterEach(async (context) => {
  // A failed test shows what the services said last: a stalled sweep is otherwise only a timeout.
  if (context.task.result?.state === "fail" && cluster) {
    for (const service of [cluster.evaluator, ...cluster.trainers]) console.log(`last log lines of ${service.logs[0]?.service}:\n${service.logs.slice(-30).map((line) => JSON.stringify(line)).join("\n")}`);
  }
  await cluster?.stop();
  cluster = undefined;
});

describe("sweeps with a scheduler", () => {
  it("ASHA through mnistctl sweep: stops the trials it should at their rungs, says why, and ranks the rest", async () => {
    cluster = await startCluster();
    const accuracies = twinAccuracies();
    const result = await cluster.cli(["sweep", ...sweepFlags, "--scheduler", "asha", "--grace-period", "1", "--reduction-factor", "3", "--json"], 180_000);
    expect(result.stderr).toBe("");
    const lines = jsonLines(result.stdout);
    const summary = lines.at(-1)!;
    const rows = lines.slice(0, -1);
    const client = createClient(RunService, cluster.server);
    const { sweep, runs } = await client.getSweep({ sweepId: String(summary.sweep) });
    client.close();
    const expected = expectedOutcome(resolveScheduler({ kind: Scheduler.ASHA } as never), startOrder(cluster, runs), await accuracies);

    // Each trial trained the epochs the scheduler allows, and a stopped one says it was ASHA and why.
    for (const run of runs) {
      const want = expected.get(run.spec!.eta!)!;
      expect([run.spec!.eta, run.epochs.length], run.stopReason).toEqual([run.spec!.eta, want.epochs]);
      expect(run.stopReason).toBe(want.reason ?? "completed 9 epochs");
    }
    console.log(`ASHA sweep: ${runs.map((run) => `eta ${run.spec!.eta}: ${run.epochs.length} epochs, ${run.stopReason}`).join("; ")}`);
    const stopped = [...expected.values()].filter((outcome) => outcome.reason !== undefined).length;
    expect(stopped, "this sweep should exercise ASHA: some trial stopped early").toBeGreaterThan(0);
    expect(summary).toMatchObject({ msg: "sweep finished", scheduler: "asha", runs: 4, stoppedByScheduler: stopped, trainerEpochs: [...expected.values()].reduce((sum, outcome) => sum + outcome.epochs, 0) });
    // The sweep's state in the KV store: rungs at 1 and 3 epochs, the order trials reached them, the stops.
    expect(sweep!.rungs.map((rung) => rung.epochs)).toEqual([1, 3]);
    expect(sweep!.rungs[0]!.entries).toHaveLength(4);
    expect(Object.keys(sweep!.stops)).toHaveLength(stopped);
    // Ranked by best validation accuracy, every trial finished.
    expect(rows.map((row) => row.state)).toEqual(Array(4).fill("finished"));
    const best = rows.map((row) => row.bestValAccuracy as number);
    expect(best).toEqual([...best].sort((a, b) => b - a));
    expect(best[0]).toBe(Math.max(...runs.map((run) => run.bestValAccuracy)));
  }, 180_000);

  it("median stopping keeps its state across an evaluator restart in mid-sweep", async () => {
    cluster = await startCluster();
    const c = cluster;
    const accuracies = twinAccuracies();
    const client = createClient(RunService, c.server);
    const specs = etas.map((eta) => ({ ...common, eta }));
    const rules = resolveScheduler({ kind: Scheduler.MEDIAN, gracePeriod: 2, minSamples: 1 } as never);
    const { sweepId, runIds } = await client.launchSweep({ name: "median", specs, scheduler: { kind: Scheduler.MEDIAN, gracePeriod: 2, minSamples: 1 } });
    client.close();
    // The evaluator dies once the first trial has finished, and its successor carries on.
    await waitForLog(c.evaluator, (line) => line.msg === "run finished" && runIds.includes(String(line.run)));
    c.evaluator.child.kill("SIGKILL");
    await c.evaluator.exited;
    await c.startEvaluator();
    const again = createClient(RunService, c.server);
    let runs: RunRecord[] = [];
    for (let waited = 0; waited < 120_000; waited += 250) {
      runs = (await again.getSweep({ sweepId })).runs;
      if (runs.length === 4 && runs.every((run) => isTerminal(run.state))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const { sweep } = await again.getSweep({ sweepId });
    again.close();
    const expected = expectedOutcome(rules, startOrder(c, runs), await accuracies);
    for (const run of runs) {
      expect(run.state).toBe(RunState.FINISHED);
      const want = expected.get(run.spec!.eta!)!;
      expect([run.spec!.eta, run.epochs.length, run.stopReason]).toEqual([run.spec!.eta, want.epochs, want.reason ?? "completed 9 epochs"]);
    }
    const stopped = [...expected.values()].filter((outcome) => outcome.reason !== undefined).length;
    expect(stopped, "this sweep should exercise median stopping: some trial stopped early").toBeGreaterThan(0);
    expect(Object.keys(sweep!.stops).length).toBe(stopped);
    console.log(`median sweep: ${runs.map((run) => `eta ${run.spec!.eta}: ${run.epochs.length} epochs, ${run.stopReason}`).join("; ")}`);
    expect(Object.values(sweep!.results).map((trial) => trial.values.length).sort()).toEqual(runs.map((run) => run.epochs.length).sort());
  });
});
