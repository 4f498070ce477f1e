import { createHash, randomBytes } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { epochOrder, loadTrainingSet, packSlice, SliceMaker, type EpochPlan } from "@mnist/augment";
import { presets } from "@mnist/spec";
import { AUGMENT_QUEUE, encodeParts, LocalEpochSource, NatsEpochSource, sliceBytes, type EpochSource, type NatsSourceOptions } from "@mnist/stream";
import { SampleBatchSchema, SliceRequestSchema } from "@mnist/protocol";
import { connect, createInbox, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsUrl } from "../harness/nats.js";
import { runNode, startService, type LogLine, type StartedService } from "../harness/services.js";

// The augment service across processes, on a real nats-server, with the real addon. A subject
// of its own keeps other test files' replicas out of these counts.
const subject = `mnist.augment.slice.test${randomBytes(4).toString("hex")}`;
const training = loadTrainingSet();
const maker = new SliceMaker(training);
// 2,000 images, expanded to 10,000 examples per epoch, with every random transform on.
const plan: EpochPlan = { seed: 20261126n, trainLimit: 2000, augment: { ...presets.elastic, expandShifts: true } };
const SLICE = 500;

interface EpochRead {
  sha: string;
  indices: number[];
  labels: number[];
}

async function readEpoch(source: EpochSource, epoch: number, onSlice?: (slice: number) => Promise<void> | void): Promise<EpochRead> {
  const hash = createHash("sha256");
  const indices: number[] = [];
  const labels: number[] = [];
  for await (const slice of source.epoch(epoch)) {
    hash.update(slice.pixels);
    indices.push(...slice.indices);
    labels.push(...slice.labels);
    await onSlice?.(slice.slice);
  }
  return { sha: hash.digest("hex"), indices, labels };
}

const expected = new Map<number, EpochRead>();
async function inProcess(epoch: number): Promise<EpochRead> {
  if (!expected.has(epoch)) expected.set(epoch, await readEpoch(new LocalEpochSource({ training: maker, plan, sliceSize: SLICE }), epoch));
  return expected.get(epoch)!;
}

function expectExactlyOnce(read: EpochRead, epoch: number): void {
  const order = Array.from(epochOrder(plan.seed, epoch, 10_000));
  expect(read.indices.length).toBe(10_000);
  expect(new Set(read.indices).size).toBe(10_000);
  expect(read.indices).toEqual(order);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function lastStats(service: StartedService): LogLine | undefined {
  return service.logs.filter((line) => line.msg === "augment stats").at(-1);
}

const replicaEnv = { AUGMENT_SUBJECT: subject, AUGMENT_STATS_INTERVAL_MS: "300" };

describe("the augment service over NATS", () => {
  let nc: NatsConnection;
  const replicas: StartedService[] = [];
  const sources: EpochSource[] = [];
  const source = (options: Partial<NatsSourceOptions> = {}) => {
    const created = new NatsEpochSource({ nats: nc, runId: "run-augment-test", plan, sliceSize: SLICE, subject, requestTimeoutMs: 1500, ...options });
    sources.push(created);
    return created;
  };

  beforeAll(async () => {
    nc = await connect({ servers: natsUrl() });
    replicas.push(await startService("augment", { NATS_URL: natsUrl(), ...replicaEnv }));
  });

  afterAll(async () => {
    for (const created of sources) await created.close();
    await nc?.drain();
    for (const replica of replicas) {
      if (replica.child.exitCode === null && replica.child.signalCode === null) {
        replica.child.kill("SIGTERM");
        await replica.exited;
      }
    }
  });

  it("logs and counts malformed requests, answers them with an error where it can, and keeps serving", async () => {
    const [replica] = replicas;
    const inbox = createInbox();
    const errors: string[] = [];
    const sub = nc.subscribe(inbox, { callback: (_, message) => errors.push(fromBinary(SampleBatchSchema, message.data).error) });
    const fields = { runId: "run-x", seed: 1n, epoch: 0, slice: 0, start: 0, count: 10, augment: presets.affine };
    const request = (changes: object) => toBinary(SliceRequestSchema, create(SliceRequestSchema, { ...fields, ...changes }));
    const validBytes = request({});
    const malformed: [string, Uint8Array][] = [
      ["random bytes", Uint8Array.from({ length: 600 }, (_, i) => (i * 7919 + 13) % 251)],
      ["empty", new Uint8Array(0)],
      ["truncated", validBytes.subarray(0, validBytes.length - 5)],
      ["oversize", new Uint8Array(20_000).fill(7)],
      ["wrong run", request({ runId: "no such run!" })],
      ["count out of range", request({ count: 0 })],
      ["start out of range", request({ start: 4_000_000 })],
      ["train limit out of range", request({ trainLimit: 60_000 })],
      ["probability out of range", request({ augment: { ...presets.affine, rotateProbability: 5 } })],
    ];
    for (const [, bytes] of malformed) nc.publish(subject, bytes, { reply: inbox });
    nc.publish(subject, validBytes); // no reply subject: nothing to answer to
    await waitFor("an error reply to every malformed request", () => (errors.length >= malformed.length ? true : undefined));
    sub.unsubscribe();
    expect(errors).toHaveLength(malformed.length);
    for (const error of errors) expect(error).toMatch(/^(undecodable|invalid|oversize): /);
    expect(errors.some((error) => error.startsWith("oversize: request of 20000 bytes"))).toBe(true);
    expect(errors.some((error) => error.includes("runId"))).toBe(true);
    expect(errors.some((error) => error.includes("augment.rotateProbability is 5; allowed"))).toBe(true);
    const stats = await waitFor("a stats line counting the rejects", () => {
      const line = lastStats(replica!);
      return line && (line.rejected as number) >= malformed.length + 1 ? line : undefined;
    });
    expect(stats.rejected).toBe(malformed.length + 1);
    expect((stats.rejects as Record<string, number>)["no-reply-subject"]).toBe(1);
    expect(replica!.logs.filter((line) => line.msg === "augment request rejected" && line.level === "warn").length).toBe(malformed.length + 1);
    expect(replica!.child.exitCode).toBeNull();
    // Still serving, and serving the same bytes as the in-process source.
    const read = await readEpoch(source(), 0);
    expect(read.sha).toBe((await inProcess(0)).sha);
  });

  it("one replica and three replicas (one splitting slices into small parts) give byte-identical epoch streams", async () => {
    const one = await readEpoch(source(), 1);
    replicas.push(
      await startService("augment", { NATS_URL: natsUrl(), ...replicaEnv, AUGMENT_MAX_PART_BYTES: "100000" }),
      await startService("augment", { NATS_URL: natsUrl(), ...replicaEnv, AUGMENT_CONCURRENCY: "2" }),
    );
    const three = await readEpoch(source({ maxInFlight: 6 }), 1);
    const local = await inProcess(1);
    expectExactlyOnce(one, 1);
    expect(three.sha).toBe(one.sha);
    expect(three.indices).toEqual(one.indices);
    expect(three.labels).toEqual(one.labels);
    expect(one.sha).toBe(local.sha);
    expect(one.labels).toEqual(local.labels);
    // The queue group spread the slices: at least two replicas served some.
    const serving = await waitFor("stats lines from the replicas", () => {
      const count = replicas.filter((replica) => ((lastStats(replica)?.served as number | undefined) ?? 0) > 0).length;
      return count >= 2 ? count : undefined;
    });
    expect(serving).toBeGreaterThanOrEqual(2);
    expect(lastStats(replicas[0]!)).toMatchObject({ service: "augment", level: "info" });
    expect(lastStats(replicas[0]!)!.imagesPerSecond).toBeTypeOf("number");
  });

  it("completes the epoch with every index exactly once and identical bytes when a replica is SIGKILLed mid-epoch", async () => {
    // Its own subject, so that the victim is the only replica when it dies: with slices of 2,500
    // examples and one slot, it is making slice 1 and holds slices 2 and 3 when killed.
    const own = `${subject}.kill`;
    const victim = await startService("augment", { NATS_URL: natsUrl(), ...replicaEnv, AUGMENT_SUBJECT: own });
    replicas.push(victim);
    const reader = source({ subject: own, sliceSize: 2500, maxInFlight: 4, requestTimeoutMs: 800, noResponderRetryMs: 200 });
    const read = await readEpoch(reader, 2, async (slice) => {
      if (slice === 0) {
        victim.child.kill("SIGKILL");
        await victim.exited;
        replicas.push(await startService("augment", { NATS_URL: natsUrl(), ...replicaEnv, AUGMENT_SUBJECT: own }));
      }
    });
    expect(await victim.exited).toBe("SIGKILL");
    expectExactlyOnce(read, 2);
    expect(read.sha).toBe((await inProcess(2)).sha);
    const stats = reader.stats();
    expect(stats).toMatchObject({ slicesDelivered: 4, examplesDelivered: 10_000, inFlightSlices: 0 });
    expect(stats.reRequests).toBeGreaterThan(0);
  });

  it("asks again for slices a replica took and never answered, and drops duplicate and foreign parts", async () => {
    // A replica that swallows requests (what a dead one does to what it had taken) and one that
    // answers every request twice plus a part of another run, all in the same queue group.
    let swallowed = 0;
    const hole = nc.subscribe(subject, { queue: AUGMENT_QUEUE, callback: () => void swallowed++ });
    let echoed = 0;
    const twice = nc.subscribe(subject, {
      queue: AUGMENT_QUEUE,
      callback: (_, message) => {
        const request = fromBinary(SliceRequestSchema, message.data);
        const data = maker.makeSync({ seed: request.seed, trainLimit: request.trainLimit, augment: request.augment! }, request.epoch, request.start, request.count);
        const parts = encodeParts(request, packSlice(data), 200_000);
        for (const part of [...parts, ...parts]) message.respond(part);
        message.respond(toBinary(SampleBatchSchema, { ...fromBinary(SampleBatchSchema, parts[0]!), runId: "someone-else" }));
        message.respond(randomBytes(300));
        echoed++;
      },
    });
    try {
      const reader = source({ requestTimeoutMs: 400 });
      // The queue group picks a member at random for each request: epochs are read (each exactly
      // once, each as in-process) until both odd replicas have had requests, ten at most.
      for (let epoch = 3; epoch < 13 && (swallowed === 0 || echoed === 0 || epoch === 3); epoch++) {
        const read = await readEpoch(reader, epoch);
        expectExactlyOnce(read, epoch);
        expect(read.sha).toBe((await inProcess(epoch)).sha);
      }
      const stats = reader.stats();
      expect(swallowed).toBeGreaterThan(0);
      expect(echoed).toBeGreaterThan(0);
      expect(stats.reRequests).toBeGreaterThan(0);
      expect(stats.duplicateParts).toBeGreaterThan(0);
      expect(stats.rejectedMessages).toBeGreaterThan(0);
    } finally {
      hole.unsubscribe();
      twice.unsubscribe();
    }
  });

  it("keeps a slow reader's memory bounded: never more than maxInFlight slices held", async () => {
    const reader = source({ sliceSize: 200, maxInFlight: 2 });
    const held: number[] = [];
    const read = await readEpoch(reader, 4, async () => {
      await sleep(25);
      held.push(reader.stats().inFlightSlices);
    });
    expect(read.indices).toHaveLength(10_000);
    expect(read.sha).toBe((await readEpoch(new LocalEpochSource({ training: maker, plan, sliceSize: 777 }), 4)).sha);
    const stats = reader.stats();
    expect(stats.slicesDelivered).toBe(50);
    expect(stats.maxInFlightSlices).toBeLessThanOrEqual(2);
    expect(stats.maxInFlightBytes).toBeLessThanOrEqual(2 * sliceBytes(200));
    expect(Math.max(...held)).toBeLessThanOrEqual(2);
    expect(held.some((count) => count > 0)).toBe(true);
  });

  it("with recycleSlices and prefetchNextEpoch: the same bytes, a few buffers reused, and the next epoch asked for ahead", async () => {
    const reader = source({ sliceSize: 1000, maxInFlight: 3, recycleSlices: true, prefetchNextEpoch: true });
    const buffers = new Set<ArrayBufferLike>();
    const read = async (epoch: number) => {
      const hash = createHash("sha256");
      const indices: number[] = [];
      for await (const slice of reader.epoch(epoch)) {
        hash.update(slice.pixels);
        indices.push(...slice.indices);
        buffers.add(slice.pixels.buffer);
      }
      return { sha: hash.digest("hex"), indices };
    };
    const first = await read(5);
    expect(first.sha).toBe((await inProcess(5)).sha);
    // Epoch 6's first slices were asked for as epoch 5 ended, within the window.
    await waitFor("epoch 6's prefetched slices", () => (reader.stats().requests >= 10 + 3 ? true : undefined));
    expect(reader.stats().inFlightSlices).toBe(3);
    const second = await read(6);
    expect(second.sha).toBe((await inProcess(6)).sha);
    expect(second.indices).toEqual(Array.from(epochOrder(plan.seed, 6, 10_000)));
    // Epoch 7 was prefetched; reading 8 instead drops it and still gives 8's bytes.
    const skipped = await read(8);
    expect(skipped.sha).toBe((await inProcess(8)).sha);
    const stats = reader.stats();
    expect(stats.slicesDelivered).toBe(30);
    expect(stats.maxInFlightSlices).toBeLessThanOrEqual(3);
    // Window of 3 plus the one the reader holds, not one buffer per slice.
    expect(buffers.size).toBeLessThanOrEqual(4);
  });

  it("finishes the requests it accepted on SIGTERM before exiting 0", async () => {
    // The first replica, with one slot, alone on the subject: the others stop first.
    const replica = replicas[0]!;
    for (const other of replicas.filter((candidate) => candidate !== replica)) {
      if (other.child.exitCode === null && other.child.signalCode === null) {
        other.child.kill("SIGTERM");
        expect(await other.exited).toBe(0);
      }
    }
    // Four requests queue behind the one slot, answered in order. SIGTERM goes out as the first
    // one's last example arrives: the other three are accepted and unanswered then, with about
    // 0.1 s of work each still to do.
    const requests = 4;
    const perRequest = 10_000;
    const inbox = createInbox();
    let examples = 0;
    const sub = nc.subscribe(inbox, {
      callback: (_, message) => {
        const before = examples;
        examples += fromBinary(SampleBatchSchema, message.data).indices.length;
        if (before < perRequest && examples >= perRequest) replica.child.kill("SIGTERM");
      },
    });
    for (let slice = 0; slice < requests; slice++) {
      const request = create(SliceRequestSchema, { runId: "run-term", seed: 5n, epoch: 0, slice, start: slice * perRequest, count: perRequest, augment: presets.elastic });
      nc.publish(subject, toBinary(SliceRequestSchema, request), { reply: inbox });
    }
    expect(await replica.exited).toBe(0);
    await waitFor("every example of the accepted requests", () => (examples >= requests * perRequest ? true : undefined), 10_000);
    sub.unsubscribe();
    expect(examples).toBe(requests * perRequest);
    const finishing = replica.logs.find((line) => line.msg === "augment finishing accepted requests");
    expect(finishing, "SIGTERM met requests accepted and not yet answered").toBeDefined();
    expect((finishing!.inFlight as number) + (finishing!.queued as number)).toBeGreaterThanOrEqual(1);
    expect(replica.logs.map((line) => line.msg)).toContain("augment stopped");
  });
});

describe("augment service configuration", () => {
  it.each([
    ["AUGMENT_CONCURRENCY", "0", "an integer from 1 to 64"],
    ["AUGMENT_DATA_DIR", "/nonexistent", "a directory holding MNIST's train-images-idx3-ubyte"],
    ["AUGMENT_SUBJECT", "mnist.*", "a NATS subject"],
    ["AUGMENT_MAX_PART_BYTES", "10", "an integer from 8192 to 67108864"],
  ])("exits 2 naming %s=%s", async (variable, value, allowed) => {
    const result = await runNode("services/augment/dist/main.js", [], { NATS_URL: natsUrl(), [variable]: value });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([expect.stringContaining(`${variable}="${value}" is invalid: ${allowed}`)]);
  });
});
