import { afterEach, describe, expect, it } from "vitest";
import { createClient } from "@mnist/grpc";
import { RunService, RunState } from "@mnist/protocol";
import { splitmix64 } from "@mnist/spec";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";
import { expectIntact, jsonLines, launch, reference, type Shape } from "../harness/intact.js";
import type { StartedService } from "../harness/services.js";

/**
 * The faults a run must survive, each on its own and all in one run, then a seeded soak: after
 * every one the run finishes with every epoch once, every training example consumed once per
 * epoch, the same schedule and bit-identical weights to the in-process run of the same spec.
 */

const short = (epochs: number): Shape => ({ epochs, trainLimit: 10_000, hidden: 30, decayAfter: 2 });
// Long enough that a fault aimed after epoch 1 finds the run still going, even on a busy machine.
const single = short(10);
// The soak's run is longer and wider, and no schedule ends it early: 30 whole epochs, so that
// faults land every epoch or two.
const soak: Shape = { epochs: 30, trainLimit: 50_000, hidden: 30, decayAfter: 0 };

let cluster: Cluster | undefined;
afterEach(async () => {
  for (const service of [...(cluster?.trainers ?? [])]) service.child.kill("SIGCONT");
  await cluster?.stop();
  cluster = undefined;
});

const epochLogged = (c: Cluster, runId: string, epoch: number) => waitForLog(c.evaluator, (line) => line.msg === "epoch" && line.run === runId && (line.epoch as number) >= epoch, 120_000);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** No trainer to aim at now: the run has ended, or its trainer is dead and it is not placed again yet. */
class NoHolder extends Error {}

/** The live trainer process the run's record names (a trainer that lost its lease rejoins as `ID.2`, …). */
async function holder(c: Cluster, runId: string): Promise<StartedService> {
  const client = createClient(RunService, c.server);
  const { run } = await client.getRun({ runId }).finally(() => client.close());
  if (run?.state !== RunState.RUNNING) throw new NoHolder(`run ${runId} is not running (state ${run?.state}): no trainer to aim at`);
  const id = run.trainerId;
  const trainer = c.trainers.find(
    (service) => service.child.exitCode === null && service.logs.some((line) => line.msg === "trainer announced" && (id === line.trainer || id.startsWith(`${String(line.trainer)}.`))),
  );
  if (!trainer) throw new NoHolder(`no live trainer holds run ${runId} (its record names ${JSON.stringify(id)})`);
  return trainer;
}

type Fault = (c: Cluster, runId: string) => Promise<void>;

const faults: Record<string, Fault> = {
  "SIGKILL an augment replica": async (c) => {
    const victim = c.augments.find((service) => service.child.exitCode === null)!;
    victim.child.kill("SIGKILL");
    await victim.exited;
    c.augments.splice(c.augments.indexOf(victim), 1);
    c.augments.push(await c.startAugment());
  },
  "SIGKILL the trainer": async (c, runId) => {
    const victim = await holder(c, runId);
    victim.child.kill("SIGKILL");
    await victim.exited;
    c.trainers.splice(c.trainers.indexOf(victim), 1);
    c.trainers.push(await c.startTrainer());
  },
  "restart nats-server on its store": async (c) => {
    await c.nats.restart(500);
  },
  "SIGKILL the evaluator and start it again": async (c) => {
    c.evaluator.child.kill("SIGKILL");
    await c.evaluator.exited;
    await c.startEvaluator();
  },
  "pause the trainer past its heartbeat TTL": async (c, runId) => {
    const victim = await holder(c, runId);
    victim.child.kill("SIGSTOP");
    await pause(8_000);
    const resumedAt = victim.logs.length;
    victim.child.kill("SIGCONT");
    const standDown = "heartbeat lapsed past its TTL: standing down from every run and rejoining under a new name";
    await waitForLog(victim, (line) => line.msg === standDown, 30_000);
    // Between waking and standing down, the stale trainer published nothing of the run: it was
    // never trained by two trainers at once. (Afterwards, under its new name, it may be given the run again.)
    const awake = victim.logs.slice(resumedAt, victim.logs.findIndex((line, i) => i >= resumedAt && line.msg === standDown));
    expect(awake.filter((line) => line.msg === "epoch trained" && line.run === runId)).toEqual([]);
  },
};

const clusterOptions = { trainers: 2, augmentReplicas: 2 };

describe("faults during a run", () => {
  it.each(Object.keys(faults))("survives: %s mid-epoch", async (name) => {
    const shape = single;
    const local = reference(shape);
    cluster = await startCluster(clusterOptions);
    const c = cluster;
    const runId = await launch(c, shape);
    await epochLogged(c, runId, 1);
    await pause(200); // into epoch 2
    await faults[name]!(c, runId);
    await expectIntact(c, runId, shape, await local);
  });

  it("survives all of them in one run", async () => {
    const shape = short(24);
    const local = reference(shape);
    cluster = await startCluster(clusterOptions);
    const c = cluster;
    const runId = await launch(c, shape);
    let epoch = 1;
    for (const fault of Object.values(faults)) {
      await epochLogged(c, runId, epoch);
      await pause(200);
      await fault(c, runId);
      epoch += 2;
    }
    await expectIntact(c, runId, shape, await local);
  });

  it("survives a soak: a 30-epoch run with a random fault every few seconds, from a printed seed", async () => {
    const seed = BigInt(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
    console.log(`fault soak seed ${seed} (FAULTS_SEED=${seed} npm run test:faults repeats it)`);
    const draw = splitmix64(seed);
    const local = reference(soak);
    cluster = await startCluster(clusterOptions);
    const c = cluster;
    const runId = await launch(c, soak);
    const names = Object.keys(faults);
    // A watch from start to end, through every fault: it must carry on too.
    const done = c.cli(["watch", runId, "--json"], 600_000);
    let finished = false;
    void done.then(() => (finished = true));
    const applied: string[] = [];
    while (!finished) {
      await pause(1_500 + draw() * 2_000);
      if (finished) break;
      const name = names[Math.floor(draw() * names.length)]!;
      try {
        await faults[name]!(c, runId);
      } catch (error) {
        if (finished) break;
        // Aimed at a trainer while the run had none: another draw next time.
        if (error instanceof NoHolder) continue;
        throw error;
      }
      applied.push(name);
    }
    console.log(`fault soak seed ${seed}: ${applied.length} faults: ${applied.join(", ")}`);
    const watched = await done;
    expect(watched.stderr).toBe("");
    expect(jsonLines(watched.stdout).at(-1)).toMatchObject({ msg: "run finished", state: "finished", stopReason: "completed 30 epochs" });
    expect(jsonLines(watched.stdout).filter((line) => line.msg === "epoch").map((line) => line.epoch)).toEqual([...Array(30).keys()]);
    expect((await local).epochs).toHaveLength(30);
    await expectIntact(c, runId, soak, await local);
    expect(applied.length).toBeGreaterThanOrEqual(3);
  });
});
