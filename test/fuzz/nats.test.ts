import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect, type KV, type NatsConnection, type ObjectStore } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { augmentStatsSubject, checkpointObjectName, checkpointSubject, checkpointsBucket, progressSubject, trainersBucket, trainerTtlMs } from "@mnist/cluster";
import { createClient } from "@mnist/grpc";
import {
  AugmentReplicaStatsSchema,
  CheckpointAnnouncementSchema,
  EpochProgressSchema,
  RunRecordSchema,
  RunService,
  RunState,
  SampleBatchSchema,
  SliceRequestSchema,
  TrainerInfoSchema,
  type SliceRequest,
} from "@mnist/protocol";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";
import { expectIntact, launch, reference, type Shape } from "../harness/intact.js";
import { Draw } from "../harness/draw.js";
import { boundedHeap, quietRss, rssSampler } from "../harness/memory.js";
import type { LogLine } from "../harness/services.js";

/**
 * Hostile input at every NATS door, while a run trains: random and mutated protobuf on the slice
 * subject, on a trainer's reply inbox, on the checkpoint announcements stream and on a run's
 * progress subject, junk entries in the `runs` and `trainers` buckets and junk objects in the
 * `checkpoints` store. Every message is refused and counted (nothing a client sends goes
 * unaccounted for), no service crashes or stalls, the run comes out bit-identical to its
 * in-process twin, and each service's memory stays flat. Seeded: FUZZ_SEED=… repeats a draw.
 */

const seed = BigInt(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const warmUpMessages = 5_000;
const fuzzMessages = 10_000;
// The barrage stops three epochs before the run ends, however fast this machine trains.
const shape: Shape = { epochs: 30, trainLimit: 10_000, hidden: 30, decayAfter: 0 };

type Door = "slice-request" | "trainer-inbox" | "announcement" | "progress" | "augment-stats" | "runs" | "trainers" | "object";
const doors: [Door, number][] = [
  ["slice-request", 0.26],
  ["augment-stats", 0.04],
  ["trainer-inbox", 0.15],
  ["announcement", 0.2],
  ["progress", 0.15],
  ["runs", 0.1],
  ["trainers", 0.06],
  ["object", 0.04],
];

class Fuzzer {
  readonly sent: Record<Door, number> = { "slice-request": 0, "trainer-inbox": 0, announcement: 0, progress: 0, "augment-stats": 0, runs: 0, trainers: 0, object: 0 };
  /** Junk runs written under their own id with a spec no trainer takes: each must end FAILED. */
  readonly poisonRuns: string[] = [];
  private readonly draw: Draw;
  /** Reply subjects and requests of the trainer's slice requests, seen on the slice subject. */
  private readonly inFlight: { reply: string; request: SliceRequest }[] = [];

  constructor(
    private readonly nats: NatsConnection,
    private readonly runsBucket: KV,
    private readonly trainersBucket: KV,
    private readonly objects: ObjectStore,
    /** The run whose doors are aimed at: its trainer's inbox, its progress subject, its announcements. */
    public target: string,
    seed: bigint,
  ) {
    this.draw = new Draw(seed);
    nats.subscribe("mnist.augment.slice", {
      callback: (_, message) => {
        if (!message.reply) return;
        try {
          const request = fromBinary(SliceRequestSchema, message.data);
          if (request.runId === this.target) this.inFlight.splice(0, this.inFlight.length, { reply: message.reply, request });
        } catch {
          // our own junk
        }
      },
    });
  }

  /** Random bytes, or a mutation of `valid`. */
  private junk(valid: Uint8Array): Uint8Array {
    return this.draw.fraction() < 0.4 ? this.draw.bytes(this.draw.int(200)) : this.draw.mutate(valid);
  }

  private hostileNumber(): number {
    return this.draw.pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 1e308, -0]);
  }

  async send(): Promise<void> {
    let r = this.draw.fraction();
    const door = doors.find(([, weight]) => (r -= weight) < 0)?.[0] ?? "slice-request";
    this.sent[door]++;
    await this.doors[door]();
  }

  private readonly doors: Record<Door, () => Promise<void>> = {
    "slice-request": () => this.sliceRequest(),
    "trainer-inbox": () => this.trainerInbox(),
    announcement: () => this.announcement(),
    progress: () => this.progress(),
    "augment-stats": () => this.augmentStats(),
    runs: () => this.runs(),
    trainers: () => this.trainers(),
    object: () => this.object(),
  };

  private async sliceRequest(): Promise<void> {
    const valid = toBinary(
      SliceRequestSchema,
      create(SliceRequestSchema, { runId: "fuzz", seed: 1n, epoch: 0, slice: 0, start: 0, count: 1 + this.draw.int(3), augment: { rotateProbability: this.draw.fraction() < 0.5 ? this.hostileNumber() : 0 } }),
    );
    const data = this.draw.fraction() < 0.2 ? this.draw.bytes(17_000 + this.draw.int(1_000)) : this.junk(valid);
    this.nats.publish("mnist.augment.slice", data, this.draw.fraction() < 0.8 ? { reply: `fuzz.replies.${this.draw.int(1e9)}` } : undefined);
  }

  private async trainerInbox(): Promise<void> {
    const target = this.inFlight.at(-1);
    if (!target) return void this.nats.publish(`_INBOX.fuzz.${this.draw.int(1e6)}`, this.draw.bytes(50));
    const { reply, request } = target;
    const kind = this.draw.int(4);
    if (kind === 0) return void this.nats.publish(reply, this.draw.bytes(this.draw.int(300)));
    if (kind === 1) return void this.nats.publish(`${reply.split(".").slice(0, -2).join(".")}.${100_000 + this.draw.int(1e6)}.1`, this.draw.bytes(10));
    // Right run, epoch and slice, but a part that cannot be one (lengths that disagree), or another run's.
    const batch = create(SampleBatchSchema, {
      runId: kind === 2 ? request.runId : `fuzz-${this.draw.int(1e6)}`,
      epoch: request.epoch,
      slice: request.slice,
      parts: 1,
      offset: this.draw.int(request.count),
      packedPixels: this.draw.bytes(this.draw.int(784)),
      labels: this.draw.bytes(2),
      indices: [this.draw.int(60_000)],
    });
    this.nats.publish(reply, toBinary(SampleBatchSchema, batch));
  }

  private async announcement(): Promise<void> {
    const epoch = this.draw.int(3);
    const stranger = `fuzz-${this.draw.int(1e6)}`;
    // The real run with an object name, a number or an epoch no trainer would announce; an unknown run.
    // A placement generation the run is not at: a trainer that lost the run, or one that never had it.
    const generation = this.draw.pick([0, 1, 2, 1_000]);
    const fields = this.draw.pick([
      { runId: this.target, epoch, generation, objectName: `${this.target}/latest-00000` },
      { runId: this.target, epoch, generation, objectName: checkpointObjectName(this.target, epoch, generation), eta: this.draw.pick([Number.NaN, Number.POSITIVE_INFINITY, -1]) },
      { runId: this.target, epoch: 100_000 + epoch, generation, objectName: checkpointObjectName(this.target, 100_000 + epoch, generation) },
      { runId: this.target, epoch, generation: 1_000 + generation, objectName: checkpointObjectName(this.target, epoch, 1_000 + generation) },
      { runId: stranger, epoch, generation, objectName: checkpointObjectName(stranger, epoch, generation) },
    ]);
    const valid = (fields: object) => toBinary(CheckpointAnnouncementSchema, create(CheckpointAnnouncementSchema, { trainerId: "fuzz", ...fields }));
    // Junk is made from a stranger's announcement: mutated, it may decode to anything but the real run's.
    const data = this.draw.fraction() < 0.3 ? this.junk(valid({ runId: stranger, epoch, generation, objectName: checkpointObjectName(stranger, epoch, generation) })) : valid(fields);
    await this.nats.jetstream().publish(checkpointSubject(this.draw.fraction() < 0.5 ? this.target : stranger), data);
  }

  private async progress(): Promise<void> {
    const valid = toBinary(EpochProgressSchema, create(EpochProgressSchema, { runId: this.target, epoch: 0, examples: 10, total: 5, imagesPerSecond: this.hostileNumber() }));
    this.nats.publish(progressSubject(this.target), this.draw.fraction() < 0.3 ? valid : this.junk(valid));
  }

  /** A replica's report (the dashboard's cluster view) with a hostile rate, a name that is no subject token, or another replica's subject. */
  private async augmentStats(): Promise<void> {
    const replicaId = this.draw.pick(["fuzz-replica", "bad.replica", ""]);
    const valid = toBinary(AugmentReplicaStatsSchema, create(AugmentReplicaStatsSchema, { replicaId, imagesPerSecond: this.hostileNumber() }));
    this.nats.publish(augmentStatsSubject(this.draw.fraction() < 0.5 ? "fuzz-replica" : "someone-else"), this.draw.fraction() < 0.3 ? valid : this.junk(valid));
  }

  private async runs(): Promise<void> {
    const key = `fuzz-${this.draw.int(1e9)}`;
    const kind = this.draw.int(20);
    if (kind === 0 && this.poisonRuns.length < 5) {
      // A record under its own id, queued or running on a trainer that does not exist, whose network can never be built.
      const state = this.draw.fraction() < 0.5 ? RunState.QUEUED : RunState.RUNNING;
      const record = create(RunRecordSchema, { runId: key, state, trainerId: "ghost", spec: { sizes: [784, 0, 10], eta: this.hostileNumber() } });
      this.poisonRuns.push(key);
      await this.runsBucket.put(key, toBinary(RunRecordSchema, record));
      return;
    }
    const valid = toBinary(RunRecordSchema, create(RunRecordSchema, kind < 10 ? { runId: `other-${key}`, spec: { sizes: [784, 10] } } : { runId: key }));
    await this.runsBucket.put(key, this.draw.fraction() < 0.5 ? valid : this.junk(valid));
  }

  private async trainers(): Promise<void> {
    const key = `fuzz-${this.draw.int(1e9)}`;
    // A trainer that never answers, with the most room: placement must pass it over.
    const ghost = { trainerId: key, address: "127.0.0.1:1", maxRuns: 64 };
    const bad = this.draw.pick([
      { trainerId: key, address: "nowhere", maxRuns: 1 },
      { trainerId: "someone-else", address: "127.0.0.1:2", maxRuns: 1 },
      { trainerId: key, address: "127.0.0.1:3", maxRuns: 0 },
      ghost,
    ]);
    const valid = toBinary(TrainerInfoSchema, create(TrainerInfoSchema, bad));
    await this.trainersBucket.put(key, bad === ghost || this.draw.fraction() < 0.5 ? valid : this.junk(valid));
  }

  private async object(): Promise<void> {
    const name = this.draw.fraction() < 0.5 ? `fuzz/${this.draw.int(1e6)}` : checkpointObjectName(this.target, 50_000 + this.draw.int(1e6), this.draw.int(3));
    await this.objects.putBlob({ name }, this.draw.bytes(this.draw.int(4_000)));
  }
}

const total = (counts: Record<string, number>, prefix: string) => Object.entries(counts).reduce((sum, [key, n]) => sum + (key.startsWith(prefix) ? n : 0), 0);

describe("hostile input at every NATS door", () => {
  let cluster: Cluster;
  let nats: NatsConnection;
  beforeAll(async () => {
    cluster = await startCluster({ env: { ...boundedHeap, AUGMENT_STATS_INTERVAL_MS: "1000" } });
    nats = await connect({ servers: cluster.nats.url });
  });
  afterAll(async () => {
    await nats?.close();
    await cluster?.stop();
  });

  it("refuses and counts every bad message, stays up with flat memory, and the run trains bit-identical", async () => {
    console.log(`NATS fuzz seed ${seed} (FUZZ_SEED=${seed} npx vitest run test/fuzz/nats.test.ts repeats it)`);
    const js = nats.jetstream();
    const services = { augment: cluster.augment, trainer: cluster.trainers[0]!, evaluator: cluster.evaluator };
    // Memory after the barrage, at a quiet moment after its run (the evaluator has worked through
    // every announcement sent so far, it logs its totals every few seconds while they change, and
    // the junk heartbeats have expired from the `trainers` bucket), is compared with the most each
    // service held through the warm-up: its run training and the quiet moment after it. A quiet
    // moment alone is a poor baseline: how much a process hands back after a run varies by tens of
    // megabytes from one run to the next.
    const pids = Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service.child.pid!]));
    const warmingUp = rssSampler(pids);
    const warmUpRun = await launch(cluster, { ...shape, epochs: 10 });
    const fuzzer = new Fuzzer(nats, await js.views.kv("runs"), await js.views.kv(trainersBucket), await js.views.os(checkpointsBucket), warmUpRun, seed);
    const counted = (line: LogLine) => line.msg === "rejections" && total(line.rejections as Record<string, number>, "checkpoints/") >= fuzzer.sent.announcement;
    const settle = async () => {
      await nats.flush();
      await waitForLog(cluster.evaluator, counted, 60_000);
      return quietRss(pids, trainerTtlMs + 1_000);
    };
    for (let i = 0; i < warmUpMessages; i++) await fuzzer.send();
    await cluster.cli(["watch", warmUpRun]);
    const warmUpPeak = warmingUp.stop();
    const quietAfterWarmUp = await settle();
    const before = Object.fromEntries(Object.keys(pids).map((name) => [name, Math.max(warmUpPeak[name]!, quietAfterWarmUp[name]!)]));
    const sentBefore = { ...fuzzer.sent };

    const local = reference(shape);
    const runId = await launch(cluster, shape);
    fuzzer.target = runId;
    // A progress watcher on the run, as `mnistctl run --follow` on a terminal: junk on its subject must not reach it.
    const client = createClient(RunService, cluster.server);
    const watched: { progress: number; epochs: number } = { progress: 0, epochs: 0 };
    const watching = (async () => {
      for await (const { event } of client.watchRun({ runId, progress: true })) {
        if (event.case === "progress") {
          expect(event.value.runId).toBe(runId);
          expect(event.value.examples).toBeLessThanOrEqual(event.value.total);
          watched.progress++;
        }
        if (event.case === "epoch") watched.epochs++;
      }
    })();
    // Its subscription to the run's progress subject is live once the first report has come through.
    for (let waited = 0; watched.progress === 0 && waited < 30_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(watched.progress, "a progress report reached the watcher before the barrage").toBeGreaterThan(0);
    const started = Date.now();
    let barrage = 0;
    for (; barrage < fuzzMessages && watched.epochs < shape.epochs - 3; barrage++) await fuzzer.send();
    const seconds = (Date.now() - started) / 1000;
    // A loaded machine sends more slowly while the run trains on: the barrage must still be one.
    expect(barrage, "the run neared its end before the barrage had sent enough: make it longer").toBeGreaterThanOrEqual(1_000);
    // The barrage met a run in training: its trainer's inbox and its watcher's progress subject were live.
    const control = createClient(RunService, cluster.server);
    expect((await control.getRun({ runId })).run!.state, "the run ended before the barrage did: make it longer").toBe(RunState.RUNNING);
    await expectIntact(cluster, runId, shape, await local);
    const after = await settle();
    const sent = fuzzer.sent;
    console.log(`NATS fuzz: ${barrage} messages in ${seconds.toFixed(1)} s after ${warmUpMessages} to warm up; by door ${JSON.stringify(sent)}`);
    console.log(`RSS MB before → after: ${Object.keys(before).map((name) => `${name} ${(before[name]! / 2 ** 20).toFixed(1)} → ${(after[name]! / 2 ** 20).toFixed(1)}`).join(", ")}`);
    for (const name of Object.keys(before)) expect(after[name]!, `${name} RSS`).toBeLessThanOrEqual(before[name]! * 1.1);
    expect(sent["slice-request"] - sentBefore["slice-request"]).toBeGreaterThan(barrage * 0.2);

    // The run came out as its in-process twin, and its watcher saw every epoch and only its own progress.
    await watching;
    client.close();
    expect(watched.epochs).toBe(shape.epochs);
    console.log(`watcher: ${JSON.stringify(watched)}`);
    expect(watched.progress).toBeGreaterThan(0);

    // Every service is up, and every bad message was refused and counted.
    for (const service of Object.values(services)) expect(service.child.exitCode, service.stderr()).toBeNull();
    const rejections = cluster.evaluator.logs.findLast(counted)!.rejections as Record<string, number>;
    console.log(`evaluator rejections: ${JSON.stringify(rejections)}`);
    // Each at least once: one the server redelivers (its ack later than the evaluator's 1 s ack wait, under this load) is counted again.
    expect(total(rejections, "checkpoints/")).toBeGreaterThanOrEqual(sent.announcement);
    expect(total(rejections, "checkpoints/")).toBeLessThan(sent.announcement * 1.01);
    // Junk on the progress subject is seen only while someone watches (the main barrage); mutated, some of it is a plausible report.
    expect(total(rejections, "progress/")).toBeGreaterThan((sent.progress - sentBefore.progress) / 2);
    expect(total(rejections, "runs/")).toBeGreaterThanOrEqual(sent.runs - fuzzer.poisonRuns.length);
    // Mutated, a few replica reports are plausible ones (a finite rate, a good name on its own subject).
    expect(total(rejections, "augment-stats/")).toBeGreaterThan(sent["augment-stats"] / 2);
    expect(total(rejections, "trainers/")).toBeGreaterThan(0);
    const augmentStats = cluster.augment.logs.findLast((line) => line.msg === "augment stats")!;
    console.log(`augment: ${JSON.stringify(augmentStats)}`);
    // Nothing lost: every request the replica received was served or refused.
    expect(augmentStats.requests as number).toBe((augmentStats.served as number) + (augmentStats.rejected as number));
    expect(augmentStats.rejected as number).toBeGreaterThanOrEqual(sent["slice-request"] * 0.9);
    const trainerRejections = cluster.trainers[0]!.logs.findLast((line) => line.msg === "rejections");
    console.log(`trainer rejections: ${JSON.stringify(trainerRejections?.rejections)}`);
    expect(trainerRejections?.rejected as number).toBeGreaterThan(0);

    // The junk runs under their own ids ended FAILED with the trainer's reason, and a new run still goes through.
    try {
      for (const poison of fuzzer.poisonRuns) {
        let run = (await control.getRun({ runId: poison })).run!;
        for (let waited = 0; run.state !== RunState.FAILED && waited < 60_000; waited += 250) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          run = (await control.getRun({ runId: poison })).run!;
        }
        expect(run.state, JSON.stringify(run.stopReason)).toBe(RunState.FAILED);
        expect(run.stopReason).toMatch(/refused the run: spec\.(sizes|eta)/);
      }
    } finally {
      control.close();
    }
    const next = await cluster.cli(["run", "--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "1", "--follow", "--json"]);
    expect(next.stderr).toBe("");
    expect(next.stdout).toContain('"state":"finished"');
  }, 240_000);
});
