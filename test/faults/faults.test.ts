import { readFileSync } from "node:fs";
import { connect } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { checkpointObjectName, checkpointsBucket, latestObjectName, runObjectNames } from "@mnist/cluster";
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

/** The live trainer process the run's record names (a trainer that lost its lease rejoins as `ID.2`, …), and the placement's generation. */
async function placement(c: Cluster, runId: string): Promise<{ trainer: StartedService; generation: number }> {
  const client = createClient(RunService, c.server);
  const { run } = await client.getRun({ runId }).finally(() => client.close());
  if (run?.state !== RunState.RUNNING) throw new NoHolder(`run ${runId} is not running (state ${run?.state}): no trainer to aim at`);
  const id = run.trainerId;
  const trainer = c.trainers.find(
    (service) => service.child.exitCode === null && service.logs.some((line) => line.msg === "trainer announced" && (id === line.trainer || id.startsWith(`${String(line.trainer)}.`))),
  );
  if (!trainer) throw new NoHolder(`no live trainer holds run ${runId} (its record names ${JSON.stringify(id)})`);
  return { trainer, generation: run.generation };
}

const holder = async (c: Cluster, runId: string) => (await placement(c, runId)).trainer;

const standDown = "heartbeat lapsed past its TTL: standing down from every run and rejoining under a new name";

/** Resolves once the service logs `msg` after its first `from` lines. */
const loggedAfter = (service: StartedService, from: number, msg: string) => waitForLog(service, (line) => line.msg === msg && service.logs.indexOf(line) >= from, 30_000);

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
    const { trainer: victim, generation } = await placement(c, runId);
    const stoppedAt = new Date().toISOString();
    victim.child.kill("SIGSTOP");
    await pause(8_000);
    const resumedAt = victim.logs.length;
    const wokenAt = new Date().toISOString();
    victim.child.kill("SIGCONT");
    await loggedAfter(victim, resumedAt, standDown);
    await pause(1_000);
    // Once awake, the stale trainer stored no checkpoint of the run under the placement it had lost.
    // (Under its new name it may be given the run again: a new placement, a new generation.) Judged
    // by each line's own time: pino writes asynchronously, so a line of just before the pause can
    // reach the test only after it.
    const awake = victim.logs.filter((line) => String(line.time) >= wokenAt);
    const late = victim.logs.slice(resumedAt).filter((line) => String(line.time) < stoppedAt);
    if (late.length > 0) console.log(`lines of before the pause that arrived after it (stopped ${stoppedAt}, woken ${wokenAt}): ${JSON.stringify(late)}`);
    const stale = awake.filter((line) => line.msg === "epoch trained" && line.run === runId && line.generation === generation);
    expect(stale, `stopped ${stoppedAt}, woken ${wokenAt}; its lines since: ${JSON.stringify(victim.logs.filter((line) => String(line.time) >= stoppedAt))}`).toEqual([]);
  },
};

const clusterOptions = { trainers: 2, augmentReplicas: 2 };

/** Resolves once the process is stopped (SIGSTOP: state T in /proc). */
async function stopped(service: StartedService, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (readFileSync(`/proc/${service.child.pid}/stat`, "utf8").split(") ")[1]?.[0] !== "T") {
    if (Date.now() > until) throw new Error(`process ${service.child.pid} did not stop within ${timeoutMs} ms; last lines: ${JSON.stringify(service.logs.slice(-5))}`);
    await pause(50);
  }
}

/**
 * Every checkpoint object of the run, by name, with the SHA-256 of its bytes as stored in its
 * metadata. Not read back: reading an object while it is removed (what the woken trainer and the
 * evaluator do to what it wrote late) waits for chunks that are gone, for ever.
 */
async function runObjects(c: Cluster, runId: string): Promise<Record<string, string>> {
  const nats = await connect({ servers: c.nats.url });
  try {
    const store = await nats.jetstream().views.os(checkpointsBucket);
    const objects: Record<string, string> = {};
    for (const name of await runObjectNames(nats, runId)) {
      const info = await store.info(name);
      if (info && !info.deleted) objects[name] = info.digest;
    }
    return objects;
  } finally {
    await nats.close();
  }
}

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

  // A trainer frozen (a GC pause, a throttled container, a migrating VM) at a fixed point of
  // storing an epoch's checkpoint, until its lease has lapsed, another trainer has taken the run
  // over under a new placement generation and the run has finished; then woken. Whatever it does
  // then, nothing it writes is taken: it writes under its own generation's names, never over its
  // successor's objects, and the evaluator refuses its announcement.
  it.each(["write", "announce"] as const)("survives: a trainer frozen just before it gets to %s its checkpoint, woken after the run finished elsewhere", async (step) => {
    const shape = short(3);
    const local = reference(shape);
    cluster = await startCluster({ trainers: 1, trainerEnv: { TRAINER_FAILPOINT: `${step}@2` } });
    const c = cluster;
    const frozen = c.trainers[0]!;
    const runId = await launch(c, shape);
    await stopped(frozen);
    await c.startTrainer({ TRAINER_FAILPOINT: "" });
    const finished = await c.cli(["watch", runId, "--json"], 120_000);
    expect(jsonLines(finished.stdout).at(-1)).toMatchObject({ msg: "run finished", state: "finished", stopReason: "completed 3 epochs" });
    const record = JSON.parse((await c.cli(["get", runId, "--json"])).stdout) as { generation: number; epochs: { epoch: number; generation?: number }[] };
    expect(record.generation).toBe(2);
    expect(record.epochs.map(({ epoch, generation }) => [epoch, generation])).toEqual([
      [0, 1],
      [1, 1],
      [2, 2],
    ]);
    const objects = await runObjects(c, runId);

    const resumedAt = frozen.logs.length;
    frozen.child.kill("SIGCONT");
    await loggedAfter(frozen, resumedAt, standDown);
    if (step === "announce") {
      const refused = await waitForLog(c.evaluator, (line) => line.msg === "rejected" && line.reason === "stale-generation" && line.run === runId, 30_000);
      expect(refused).toMatchObject({ source: "checkpoints", epoch: 2, generation: 1, current: 2 });
    }
    // What it stored (before it froze, or late) is under its own generation's names and goes again
    // (removed by the trainer itself when it did not announce it, by the evaluator when it refused
    // the announcement): the run's objects are its successor's, unchanged.
    const stale = [checkpointObjectName(runId, 2, 1), latestObjectName(runId, 2, 1)];
    const successors = Object.fromEntries(Object.entries(objects).filter(([name]) => !stale.includes(name)));
    expect(Object.keys(successors).sort()).toEqual([checkpointObjectName(runId, 2, 2), latestObjectName(runId, 2, 2)]);
    await expect.poll(() => runObjects(c, runId), { timeout: 10_000 }).toEqual(successors);
    expect(frozen.logs.filter((line) => line.msg === "epoch trained" && line.run === runId && line.epoch === 2)).toEqual([]);
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
