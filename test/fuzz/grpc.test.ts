import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Client as RawClient,
  credentials,
  Metadata,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
  type StatusObject,
} from "@grpc/grpc-js";
import { connect } from "nats";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkpointObjectName, checkpointsBucket, latestCheckpointName } from "@mnist/cluster";
import { loadMnist } from "@mnist/core";
import { createClient, methodPath, probeHealth, status, type Client } from "@mnist/grpc";
import {
  Decision,
  Health,
  LaunchRunRequestSchema,
  LaunchRunResponseSchema,
  LaunchSweepRequestSchema,
  LaunchSweepResponseSchema,
  NetworkChoice,
  RunCheckpointSchema,
  RunService,
  RunSpecSchema,
  RunState,
  Scheduler,
  StartRunRequestSchema,
  TrainerService,
} from "@mnist/protocol";
import { resolveRunSpec, resolveScheduler } from "@mnist/spec";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";
import { expectIntact, launch, reference, type Shape } from "../harness/intact.js";
import { Draw } from "../harness/draw.js";
import { boundedHeap, quietRss, runNodeMeasured } from "../harness/memory.js";
import type { StartedService } from "../harness/services.js";

/**
 * Hostile input at every gRPC door: random bytes, mutated valid encodings, oversize messages,
 * unknown and garbage run ids, NaN, ±Infinity, negative and huge numbers in every field, unknown
 * enum values, and a corrupt checkpoint behind GetNetwork, sent to every method of RunService
 * (the evaluator) and TrainerService (a trainer), and to every service's health and reflection.
 * Every answer is a status that blames the request or its data, with a readable message, never
 * INTERNAL, UNKNOWN or a crash; afterwards every service is alive and SERVING, its memory flat, and a run that trained
 * through it all comes out bit-identical to its in-process twin. Seeded: FUZZ_SEED=… repeats a draw.
 */

const seed = BigInt(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
// Until the services' heaps have grown to their working size (see boundedHeap): about 4,000 calls here.
const warmUpCalls = 5_000;
const fuzzCalls = 10_000;
/** Calls in flight at once: enough to keep both servers busy, few enough to keep the deadlines. */
const parallel = 24;
/** The servers' default max receive size (grpc-js): one byte more is refused unread. */
const maxReceiveBytes = 4 * 1024 * 1024;
const callDeadlineMs = 20_000;
// Trains through the first part of the barrage, on the second trainer.
const canary: Shape = { epochs: 6, trainLimit: 20_000, hidden: 30, decayAfter: 0 };
/** A run the test starts itself on the fuzzed trainer, so that trainer is full and its calls have a real run to aim at. */
const holder = "fuzz-holder";
const holderSpec = create(RunSpecSchema, { sizes: [784, 10, 10], trainLimit: 1000, epochs: 5, eta: 0.5 });

const blameless = new Set<status>([
  status.OK,
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.RESOURCE_EXHAUSTED,
  status.FAILED_PRECONDITION,
  status.OUT_OF_RANGE,
  status.DATA_LOSS,
  status.ALREADY_EXISTS,
]);

interface Outcome {
  code: status;
  details: string;
  /** The response body of a unary call that succeeded. */
  response?: Buffer;
}

const identity = (bytes: Buffer) => bytes;
const deadline = () => ({ deadline: Date.now() + callDeadlineMs });

function unaryCall(client: RawClient, path: string, body: Uint8Array): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(body), new Metadata(), deadline(), (error: ServiceError | null, response?: Buffer) =>
      resolve(error ? { code: error.code, details: error.details } : { code: status.OK, details: "", response }),
    );
  });
}

/** A stream's answer: OK at its first message (then cancelled: a watch of a live run never ends), else its status. */
function firstAnswer(call: ClientReadableStream<Buffer> | ClientDuplexStream<Buffer, Buffer>): Promise<Outcome> {
  return new Promise((resolve) => {
    let received = false;
    call.on("data", () => {
      if (received) return;
      received = true;
      call.cancel();
    });
    // The status event follows every error; without a listener an error event would throw.
    call.on("error", () => undefined);
    call.on("status", (end: StatusObject) => resolve(received ? { code: status.OK, details: "" } : { code: end.code, details: end.details }));
  });
}

const streamCall = (client: RawClient, path: string, body: Uint8Array) =>
  firstAnswer(client.makeServerStreamRequest(path, identity, identity, Buffer.from(body), new Metadata(), deadline()));

/** A bidirectional stream (reflection's) with one request. */
function bidiCall(client: RawClient, path: string, body: Uint8Array): Promise<Outcome> {
  const call = client.makeBidiStreamRequest(path, identity, identity, new Metadata(), deadline());
  const answer = firstAnswer(call);
  call.write(Buffer.from(body));
  call.end();
  return answer;
}

/** One method of one server, reached with identity serialisers so any bytes can be sent. */
interface Door {
  name: string;
  /** Unset for reflection, which has no protobuf-es descriptor here. */
  method?: DescMethod;
  call(body: Uint8Array): Promise<Outcome>;
  /** Valid encodings that mutations start from. */
  seeds: Uint8Array[];
}

function doorsOf(service: DescService, server: string, client: RawClient, seeds: Record<string, object[]>): Door[] {
  return service.methods.map((method) => ({
    name: `${server} ${service.name}/${method.name}`,
    method,
    call: (body) => (method.methodKind === "server_streaming" ? streamCall : unaryCall)(client, methodPath(method), body),
    seeds: (seeds[method.localName] ?? [{}]).map((init) => toBinary(method.input, create(method.input, init as never))),
  }));
}

/** Server reflection, v1 and v1alpha: list the services, find a file by a symbol and by its name. */
function reflectionDoors(server: string, client: RawClient): Door[] {
  const seeds = [
    Uint8Array.from(bytesField(7, [])),
    Uint8Array.from(bytesField(4, Buffer.from("mnist.v1.RunService"))),
    Uint8Array.from(bytesField(3, Buffer.from("mnist/v1/run.proto"))),
  ];
  return ["v1", "v1alpha"].map((version) => {
    const path = `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;
    return { name: `${server} reflection ${version}`, call: (body: Uint8Array) => bidiCall(client, path, body), seeds };
  });
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, 40)).toString("hex") + (bytes.length > 40 ? "…" : "");

/** What is wrong with a refusal's message, if anything: it must say something, in a line or a few, and carry no stack. */
function unreadable(details: string): string | undefined {
  if (details.trim() === "") return "empty message";
  if (details.length > 2_200) return `${details.length} characters`;
  if (/\n\s+at /.test(details)) return "a stack trace";
  return undefined;
}

/** Every answer, by door and status, and every answer that breaks the contract. */
class Tally {
  readonly byDoor = new Map<string, Map<string, number>>();
  readonly violations: string[] = [];
  calls = 0;
  refused = 0;

  record(door: string, kind: string, body: Uint8Array, outcome: Outcome): void {
    const name = status[outcome.code] ?? String(outcome.code);
    const counts = this.byDoor.get(door) ?? new Map<string, number>();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    this.byDoor.set(door, counts);
    this.calls++;
    if (outcome.code !== status.OK) this.refused++;
    const problem = !blameless.has(outcome.code) ? name : outcome.code !== status.OK ? unreadable(outcome.details) : undefined;
    if (problem) this.violations.push(`${door} (${kind}, ${body.length} bytes ${hex(body)}): ${problem}: ${JSON.stringify(outcome.details.slice(0, 300))}`);
  }

  table(): string {
    return [...this.byDoor]
      .map(([door, counts]) => `  ${door.padEnd(44)} ${[...counts].map(([name, n]) => `${name} ${n}`).join(", ")}`)
      .join("\n");
  }
}

// Hand-made wire format, for what protobuf-es will not encode (negative varints in unsigned fields).
const varint = (value: bigint) => {
  const out: number[] = [];
  let rest = BigInt.asUintN(64, value);
  do {
    out.push(Number(rest & 0x7fn) | (rest > 0x7fn ? 0x80 : 0));
    rest >>= 7n;
  } while (rest > 0n);
  return out;
};
const varintField = (field: number, value: bigint) => [...varint(BigInt(field << 3)), ...varint(value)];
const bytesField = (field: number, payload: Uint8Array | number[]) => [...varint(BigInt((field << 3) | 2)), ...varint(BigInt(payload.length)), ...payload];

const encode = (schema: DescMessage, init: object) => toBinary(schema, create(schema, init as MessageInitShape<DescMessage>));
const tiny = { sizes: [784, 10, 10], trainLimit: 1000, epochs: 1 };

let cluster: Cluster;
let runs: Client<typeof RunService>;
let fuzzedTrainer: StartedService;
let canaryTrainer: StartedService;
let trainer: Client<typeof TrainerService>;
let evaluatorRaw: RawClient;
let trainerRaw: RawClient;
let canaryId = "";
let victimId = "";
const draw = new Draw(seed);
const tally = new Tally();
const dir = mkdtempSync(join(tmpdir(), "mnist-fuzz-grpc-"));

beforeAll(async () => {
  console.log(`gRPC fuzz seed ${seed} (FUZZ_SEED=${seed} npx vitest run test/fuzz/grpc.test.ts repeats it)`);
  cluster = await startCluster({ env: boundedHeap });
  fuzzedTrainer = cluster.trainers[0]!;
  runs = createClient(RunService, cluster.server);
  trainer = createClient(TrainerService, fuzzedTrainer.address);
  evaluatorRaw = new RawClient(cluster.server, credentials.createInsecure());
  trainerRaw = new RawClient(fuzzedTrainer.address, credentials.createInsecure());
  // The fuzzed trainer holds one run of the test's own (TRAINER_MAX_RUNS=1): a StartRun that
  // happens to be valid finds it full instead of training, and the evaluator places nothing there.
  await trainer.startRun({ runId: holder, spec: holderSpec, generation: 1 });
  await waitForLog(fuzzedTrainer, (line) => line.msg === "epoch trained" && line.run === holder && line.epoch === 0);
}, 60_000);
afterEach((context) => {
  if (context.task.result?.state !== "fail") return;
  for (const service of [cluster.evaluator, ...cluster.trainers, cluster.augment]) {
    console.log(`last log lines of ${service.logs[0]?.service ?? "a service"}:\n${service.logs.slice(-20).map((line) => JSON.stringify(line)).join("\n")}`);
  }
});
afterAll(async () => {
  runs?.close();
  trainer?.close();
  evaluatorRaw?.close();
  trainerRaw?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends one body through a door, records the answer, and undoes a call that launched or started a run after all. */
async function send(door: Door, body: Uint8Array, kind: string): Promise<Outcome> {
  const outcome = await door.call(body);
  tally.record(door.name, kind, body, outcome);
  if (outcome.code === status.OK && door.method?.parent === RunService && door.method.name === "LaunchRun") {
    const { runId } = fromBinary(LaunchRunResponseSchema, outcome.response!);
    await runs.stopRun({ runId, reason: "launched by the fuzzer" });
  }
  if (outcome.code === status.OK && door.method?.parent === RunService && door.method.name === "LaunchSweep") {
    for (const runId of fromBinary(LaunchSweepResponseSchema, outcome.response!).runIds) await runs.stopRun({ runId, reason: "launched by the fuzzer" });
  }
  if (outcome.code === status.OK && door.method?.parent === TrainerService && door.method.name === "StartRun") {
    const { runId } = fromBinary(StartRunRequestSchema, body);
    if (runId !== holder) await trainer.stopTraining({ runId, reason: "started by the fuzzer" });
  }
  return outcome;
}

/** A body LaunchRun would accept: a real run, not hostile input, so the barrage leaves it out (a valid launch is tested elsewhere). */
function launchable(body: Uint8Array): boolean {
  try {
    const { spec } = fromBinary(LaunchRunRequestSchema, body);
    return spec !== undefined && (resolveRunSpec(spec), true);
  } catch {
    return false;
  }
}

/** A body LaunchSweep would accept: real runs, left out of the barrage as launchable LaunchRun bodies are. */
function sweepLaunchable(body: Uint8Array): boolean {
  try {
    const { specs, scheduler } = fromBinary(LaunchSweepRequestSchema, body);
    resolveScheduler(scheduler);
    return specs.length > 0 && specs.every((spec) => (resolveRunSpec(spec), true));
  } catch {
    return false;
  }
}

async function inParallel(calls: (() => Promise<unknown>)[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < calls.length) await calls[next++]!();
  }));
}

/** Expects a refusal with `code` whose message starts with the field it names. */
async function expectRefused(door: Door, body: Uint8Array, code: status, field?: string): Promise<void> {
  const outcome = await send(door, body, "case");
  expect({ code: status[outcome.code], details: outcome.details }, `${door.name} ${hex(body)}`).toMatchObject({ code: status[code] });
  if (field !== undefined) expect(outcome.details.startsWith(`${field} is `), `${door.name}: ${outcome.details}`).toBe(true);
}

function evaluatorDoors(): Record<string, Door> {
  const ids = ["fuzz-run-1", "run-zzzzzzzz-000000"];
  return Object.fromEntries(
    doorsOf(RunService, "evaluator", evaluatorRaw, {
      launchRun: [
        { spec: { ...tiny, eta: Number.NaN } },
        { spec: { name: "fuzz", sizes: [784, 30, 10], lambda: 5, dropout: 0.2, momentum: 0.5, nesterov: true, stopping: { decayAfter: 2, decayFactor: 0.5, minEtaFraction: 0.01 } } },
        { spec: { ...tiny, augment: { rotateProbability: 1, rotateDegrees: 15, elasticProbability: 1, elasticAlpha: 34, elasticSigma: 4 }, monitor: { trainCost: true } } },
      ],
      getRun: ids.map((runId) => ({ runId })),
      watchRun: ids.map((runId) => ({ runId, progress: true })),
      stopRun: ids.map((runId) => ({ runId, reason: "fuzz" })),
      pauseRun: ids.map((runId) => ({ runId, reason: "fuzz" })),
      resumeRun: ids.map((runId) => ({ runId, reason: "fuzz" })),
      setLearningRate: ids.map((runId) => ({ runId, eta: 0.25 })),
      updateRun: ids.map((runId) => ({
        runId,
        eta: 0.25,
        stopping: { earlyStopPatience: 3, metric: 2, minDelta: 0.01, restoreBestOnDecay: true },
        updateMask: { paths: ["eta", "stopping.early_stop_patience", "stopping.metric", "stopping.min_delta", "stopping.restore_best_on_decay"] },
        dryRun: runId === ids[0],
        reason: "fuzz",
      })),
      getNetwork: ids.map((runId) => ({ runId, choice: NetworkChoice.LAST })),
      // Refused whole: a trial's spec is wrong, or the scheduler's (mutations of these, some accepted, are undone as launches are).
      launchSweep: [
        { name: "fuzz", specs: [tiny, { ...tiny, eta: Number.NaN }], scheduler: { kind: Scheduler.ASHA, gracePeriod: 1, reductionFactor: 3 } },
        { name: "fuzz", specs: [tiny], scheduler: { kind: Scheduler.MEDIAN, reductionFactor: 1 } },
      ],
      getSweep: [{ sweepId: "sweep-zzzzzzzz-000000" }],
    }).map((door) => [door.method!.localName, door]),
  );
}

function trainerDoors(): Record<string, Door> {
  const runId = "fuzz-run-2";
  return Object.fromEntries(
    doorsOf(TrainerService, "trainer", trainerRaw, {
      startRun: [
        { runId, spec: tiny, generation: 1 },
        { runId, spec: { sizes: [784, 100, 10], momentum: 0.9, augment: { expandShifts: true } }, generation: 7, resumeFrom: { epoch: 3, generation: 5 } },
      ],
      decide: [
        { runId, epoch: 3, decision: Decision.CONTINUE, eta: 0.5, reason: "fuzz", generation: 1 },
        { runId, epoch: 0, decision: Decision.DECAY_ETA, eta: 0.25, generation: 2 },
        { runId, epoch: 2, decision: Decision.DECAY_ETA, eta: 0.25, restoreEpoch: 1, generation: 1, restoreGeneration: 1 },
      ],
      setLearningRate: [{ runId, eta: 0.25 }],
      pauseRun: [{ runId }],
      resumeRun: [{ runId }],
      stopTraining: [{ runId, reason: "fuzz" }],
    }).map((door) => [door.method!.localName, door]),
  );
}

const numbers = [Number.NaN, Infinity, -Infinity, -1, 1e308];
const doubleFields: [string, (value: number) => object][] = [
  ...["eta", "lambda", "l1", "dropout", "momentum"].map((field): [string, (value: number) => object] => [field, (value) => ({ [field]: value })]),
  ...["decayFactor", "minEtaFraction"].map((field): [string, (value: number) => object] => [`stopping.${field}`, (value) => ({ stopping: { [field]: value } })]),
  ...[
    "rotateProbability",
    "rotateDegrees",
    "translateProbability",
    "translatePixels",
    "skewProbability",
    "skew",
    "scaleProbability",
    "scale",
    "elasticProbability",
    "elasticAlpha",
    "elasticSigma",
  ].map((field): [string, (value: number) => object] => [`augment.${field}`, (value) => ({ augment: { [field]: value } })]),
];
const u32max = 4_294_967_295;
/** Specs no trainer can ever run, and the field each names. */
const impossibleSpecs: [object, string][] = [
  [{ sizes: [784] }, "sizes"],
  [{ sizes: [784, 0, 10] }, "sizes[1]"],
  [{ sizes: [785, 30, 10] }, "sizes[0]"],
  [{ sizes: [784, 30, 11] }, "sizes[2]"],
  [{ sizes: [784, u32max, 10] }, "sizes[1]"],
  [{ sizes: [784, 70_000, 10] }, "sizes[1]"],
  [{ sizes: [784, 65_536, 4_096, 10] }, "sizes"],
  [{ sizes: [784, ...Array<number>(1_000).fill(30), 10] }, "sizes"],
  [{ sizes: Array<number>(300_000).fill(784) }, "sizes"],
  [{ epochs: 0 }, "epochs"],
  [{ epochs: u32max }, "epochs"],
  [{ miniBatch: 0 }, "miniBatch"],
  [{ miniBatch: u32max }, "miniBatch"],
  [{ trainLimit: u32max }, "trainLimit"],
  [{ trainLimit: 5, miniBatch: 10 }, "miniBatch"],
  [{ stopping: { earlyStopPatience: u32max } }, "stopping.earlyStopPatience"],
  [{ stopping: { decayAfter: u32max } }, "stopping.decayAfter"],
  [{ nesterov: true }, "nesterov"],
  [{ activation: 7 }, "activation"],
  [{ cost: 9 }, "cost"],
  [{ init: 5 }, "init"],
  [{ evalOn: 4 }, "evalOn"],
];
/** RunSpec fields given as raw varints: -1 in unsigned and enum fields (field number, name). */
const negativeVarints: [number, string][] = [
  [6, "epochs"],
  [7, "miniBatch"],
  [15, "trainLimit"],
  [3, "activation"],
  [4, "cost"],
  [5, "init"],
  [16, "evalOn"],
];
const badIds: [string, status][] = [
  ["", status.INVALID_ARGUMENT],
  [" ", status.INVALID_ARGUMENT],
  ["run-1 OR 1=1", status.INVALID_ARGUMENT],
  ["../../etc/passwd", status.INVALID_ARGUMENT],
  [">", status.INVALID_ARGUMENT],
  ["*", status.INVALID_ARGUMENT],
  ["run.1", status.INVALID_ARGUMENT],
  ["-run", status.INVALID_ARGUMENT],
  ["ünïcödé", status.INVALID_ARGUMENT],
  ["run\u0000x", status.INVALID_ARGUMENT],
  ["x".repeat(129), status.INVALID_ARGUMENT],
  ["a".repeat(3_000_000), status.INVALID_ARGUMENT],
  ["a:b", status.INVALID_ARGUMENT],
  ["run-does-not-exist", status.NOT_FOUND],
];

describe("RunService (the evaluator) refuses hostile requests with a status that blames them", () => {
  it("LaunchRun: NaN, ±Infinity, negative and huge numbers in every field, impossible shapes, unknown enums, oversized text", async () => {
    const door = evaluatorDoors().launchRun!;
    const launchSpec = (spec: object) => encode(LaunchRunRequestSchema, { spec: { ...tiny, ...spec } });
    await expectRefused(door, encode(LaunchRunRequestSchema, {}), status.INVALID_ARGUMENT, "spec");
    for (const [field, of] of doubleFields) for (const value of numbers) await expectRefused(door, launchSpec(of(value)), status.INVALID_ARGUMENT, `spec.${field}`);
    for (const [spec, field] of impossibleSpecs) await expectRefused(door, launchSpec(spec), status.INVALID_ARGUMENT, `spec.${field}`);
    for (const [number, field] of negativeVarints) {
      const spec = [...toBinary(RunSpecSchema, create(RunSpecSchema, tiny)), ...varintField(number, -1n)];
      await expectRefused(door, Uint8Array.from(bytesField(1, spec)), status.INVALID_ARGUMENT, `spec.${field}`);
    }
    // Control and format characters (a right-to-left override, zero-width space, joiner and no-break space) would spoof `mnistctl list`; a lone surrogate arrives as U+FFFD.
    const spoofs = ["red \u001b[31mname", "line\nbreak", "run-\u202Egnp.exe", "zero\u200Bwidth", "joi\u200Dned", "zero-width\uFEFFno-break", "lone \uD800 surrogate", "replaced \uFFFD"];
    for (const name of ["n".repeat(257), ...spoofs, "x".repeat(3_000_000)]) await expectRefused(door, launchSpec({ name }), status.INVALID_ARGUMENT, "spec.name");
    // Seeds are any 64-bit number: the edge cases launch (and are stopped at once, before any trainer is free).
    for (const edge of [0n, 2n ** 64n - 1n]) {
      const outcome = await send(door, launchSpec({ seed: edge }), "case");
      expect(status[outcome.code]).toBe("OK");
    }
  });

  it("GetRun, WatchRun, StopRun, SetLearningRate, UpdateRun, LaunchSweep, GetSweep, GetNetwork: unknown and garbage ids, bad values, ended runs", async () => {
    const doors = evaluatorDoors();
    for (const [runId, code] of badIds) {
      const field = code === status.INVALID_ARGUMENT ? "runId" : undefined;
      await expectRefused(doors.getRun!, encode(doors.getRun!.method!.input, { runId }), code, field);
      await expectRefused(doors.watchRun!, encode(doors.watchRun!.method!.input, { runId, progress: true }), code, field);
      await expectRefused(doors.stopRun!, encode(doors.stopRun!.method!.input, { runId }), code, field);
      await expectRefused(doors.setLearningRate!, encode(doors.setLearningRate!.method!.input, { runId, eta: 0.1 }), code, field);
      await expectRefused(doors.getNetwork!, encode(doors.getNetwork!.method!.input, { runId }), code, field);
      await expectRefused(doors.updateRun!, encode(doors.updateRun!.method!.input, { runId, eta: 0.1, updateMask: { paths: ["eta"] } }), code, field);
    }
    // LaunchSweep refuses the whole sweep for one bad trial or a bad scheduler, naming which; GetSweep as GetRun.
    const sweep = (init: object) => encode(doors.launchSweep!.method!.input, { name: "fuzz", specs: [tiny], ...init });
    await expectRefused(doors.launchSweep!, sweep({ specs: [] }), status.INVALID_ARGUMENT, "specs");
    await expectRefused(doors.launchSweep!, sweep({ specs: Array(1_001).fill(tiny) }), status.INVALID_ARGUMENT, "specs");
    await expectRefused(doors.launchSweep!, sweep({ specs: [tiny, { ...tiny, eta: Number.NaN }] }), status.INVALID_ARGUMENT, "specs[1].eta");
    await expectRefused(doors.launchSweep!, sweep({ specs: [tiny, tiny, { ...tiny, sizes: [784, 0, 10] }] }), status.INVALID_ARGUMENT, "specs[2].sizes[1]");
    for (const [scheduler, field] of [
      [{ kind: 7 }, "scheduler.kind"],
      [{ kind: Scheduler.ASHA, reductionFactor: 1 }, "scheduler.reductionFactor"],
      [{ kind: Scheduler.ASHA, gracePeriod: 0 }, "scheduler.gracePeriod"],
      [{ kind: Scheduler.MEDIAN, minSamples: u32max }, "scheduler.minSamples"],
    ] as const) {
      await expectRefused(doors.launchSweep!, sweep({ scheduler }), status.INVALID_ARGUMENT, field);
    }
    await expectRefused(doors.launchSweep!, sweep({ name: "x\u001b[2J" }), status.INVALID_ARGUMENT, "name");
    for (const [sweepId, code] of badIds) {
      await expectRefused(doors.getSweep!, encode(doors.getSweep!.method!.input, { sweepId }), code, code === status.INVALID_ARGUMENT ? "sweepId" : undefined);
    }
    // UpdateRun's own values are refused whatever the run, each naming its field.
    const update = (init: object) => encode(doors.updateRun!.method!.input, { runId: "run-does-not-exist", ...init });
    for (const value of numbers) {
      await expectRefused(doors.updateRun!, update({ stopping: { minDelta: value }, updateMask: { paths: ["stopping.min_delta"] } }), status.INVALID_ARGUMENT, "stopping.minDelta");
      await expectRefused(doors.updateRun!, update({ stopping: { minEta: value }, updateMask: { paths: ["stopping.min_eta"] } }), status.INVALID_ARGUMENT, "stopping.minEta");
    }
    await expectRefused(doors.updateRun!, update({ stopping: { metric: 9 }, updateMask: { paths: ["stopping.metric"] } }), status.INVALID_ARGUMENT, "stopping.metric");
    await expectRefused(doors.updateRun!, update({ stopping: { cooldown: u32max }, updateMask: { paths: ["stopping.cooldown"] } }), status.INVALID_ARGUMENT, "stopping.cooldown");
    await expectRefused(doors.updateRun!, update({ updateMask: { paths: ["stopping"] } }), status.INVALID_ARGUMENT, "update_mask.paths[0]");
    await expectRefused(doors.updateRun!, update({ updateMask: { paths: ["eta"] }, eta: Number.NaN }), status.INVALID_ARGUMENT, "eta");
    await expectRefused(doors.updateRun!, update({ updateMask: { paths: ["eta"] }, eta: 0.1, reason: "x".repeat(1_001) }), status.INVALID_ARGUMENT, "reason");
    const unknown = "run-does-not-exist";
    for (const eta of [...numbers, 0, -0, 1e7, 5e-324 * -1]) await expectRefused(doors.setLearningRate!, encode(doors.setLearningRate!.method!.input, { runId: unknown, eta }), status.INVALID_ARGUMENT, "eta");
    for (const reason of ["r".repeat(1_001), "bell \u0007"]) await expectRefused(doors.stopRun!, encode(doors.stopRun!.method!.input, { runId: unknown, reason }), status.INVALID_ARGUMENT, "reason");
    for (const choice of [3, 99]) await expectRefused(doors.getNetwork!, encode(doors.getNetwork!.method!.input, { runId: unknown, choice }), status.INVALID_ARGUMENT, "choice");
    await expectRefused(doors.getNetwork!, Uint8Array.from([...bytesField(1, Buffer.from(unknown)), ...varintField(2, -1n)]), status.INVALID_ARGUMENT, "choice");

    // A run that ended before it trained: nothing to stop, steer or export.
    const ended = (await runs.listRuns({})).runs.find((run) => run.state === RunState.STOPPED && run.epochs.length === 0)!;
    expect(ended, "a run the first test launched and stopped").toBeDefined();
    const runId = ended.runId;
    await expectRefused(doors.stopRun!, encode(doors.stopRun!.method!.input, { runId }), status.FAILED_PRECONDITION);
    await expectRefused(doors.setLearningRate!, encode(doors.setLearningRate!.method!.input, { runId, eta: 0.1 }), status.FAILED_PRECONDITION);
    await expectRefused(doors.getNetwork!, encode(doors.getNetwork!.method!.input, { runId }), status.FAILED_PRECONDITION);
    expect(status[(await send(doors.watchRun!, encode(doors.watchRun!.method!.input, { runId }), "case")).code]).toBe("OK");
  });
});

describe("TrainerService (a trainer) refuses hostile requests", () => {
  it("StartRun with specs whose shapes can never run, Decide with NaN eta, unknown runs, absurd epochs and unknown decisions", async () => {
    const doors = trainerDoors();
    const start = (runId: string, spec?: object, generation = 1) => encode(StartRunRequestSchema, { runId, generation, ...(spec ? { spec: { ...tiny, ...spec } } : {}) });
    await expectRefused(doors.startRun!, start("fuzz-x"), status.INVALID_ARGUMENT, "spec");
    await expectRefused(doors.startRun!, start("", {}), status.INVALID_ARGUMENT, "runId");
    await expectRefused(doors.startRun!, start("a b", {}), status.INVALID_ARGUMENT, "runId");
    for (const [spec, field] of impossibleSpecs) await expectRefused(doors.startRun!, start("fuzz-x", spec), status.INVALID_ARGUMENT, `spec.${field}`);
    for (const [field, of] of doubleFields) for (const value of numbers) await expectRefused(doors.startRun!, start("fuzz-x", of(value)), status.INVALID_ARGUMENT, `spec.${field}`);
    // Even the run it holds: a bad spec is refused, not ignored because the run is there already.
    await expectRefused(doors.startRun!, start(holder, { sizes: [785, 30, 10] }), status.INVALID_ARGUMENT, "spec.sizes[0]");
    // A valid run it has no room for.
    await expectRefused(doors.startRun!, start("fuzz-valid", {}), status.RESOURCE_EXHAUSTED);
    // No placement generation: the run could not be fenced.
    await expectRefused(doors.startRun!, start("fuzz-valid", {}, 0), status.INVALID_ARGUMENT, "generation");

    const decide = (init: object) => encode(doors.decide!.method!.input, { runId: holder, epoch: 0, decision: Decision.CONTINUE, eta: 0.5, generation: 1, ...init });
    for (const decision of [Decision.UNSPECIFIED, 4, 99]) await expectRefused(doors.decide!, decide({ decision }), status.INVALID_ARGUMENT, "decision");
    await expectRefused(doors.decide!, Uint8Array.from([...bytesField(1, Buffer.from(holder)), ...varintField(3, -1n)]), status.INVALID_ARGUMENT, "decision");
    for (const eta of [...numbers, 0, 1e7]) {
      await expectRefused(doors.decide!, decide({ eta }), status.INVALID_ARGUMENT, "eta");
      await expectRefused(doors.decide!, decide({ eta, decision: Decision.DECAY_ETA }), status.INVALID_ARGUMENT, "eta");
      await expectRefused(doors.setLearningRate!, encode(doors.setLearningRate!.method!.input, { runId: holder, eta }), status.INVALID_ARGUMENT, "eta");
    }
    // The holder trained epoch 0 and waits for its decision: a decision for a later epoch cannot be the evaluator's.
    for (const epoch of [1, 1_000, u32max]) await expectRefused(doors.decide!, decide({ epoch }), status.OUT_OF_RANGE, "epoch");
    // A decision for another placement of the run than the one held here.
    for (const generation of [0, 2, u32max]) await expectRefused(doors.decide!, decide({ generation }), status.FAILED_PRECONDITION, "generation");
    for (const [runId, code] of badIds) {
      const field = code === status.INVALID_ARGUMENT ? "runId" : undefined;
      await expectRefused(doors.decide!, decide({ runId }), code, field);
      await expectRefused(doors.setLearningRate!, encode(doors.setLearningRate!.method!.input, { runId, eta: 0.1 }), code, field);
      for (const door of [doors.pauseRun!, doors.resumeRun!, doors.stopTraining!]) await expectRefused(door, encode(door.method!.input, { runId }), code, field);
    }
    // None of it touched the run it holds.
    expect((await trainer.getStatus({})).runs).toEqual([expect.objectContaining({ runId: holder, epoch: 0, eta: 0.5, paused: false })]);
  });
});

describe("a corrupt checkpoint behind GetNetwork", () => {
  it("answers DATA_LOSS naming the checkpoint, for the best epoch and the last", async () => {
    // The canary launches now and trains on a second trainer through the barrage below; the victim goes first.
    victimId = (await runs.launchRun({ spec: tiny })).runId;
    canaryId = await launch(cluster, canary);
    canaryTrainer = await cluster.startTrainer();
    let finished: RunState | undefined;
    for await (const { event } of runs.watchRun({ runId: victimId })) if (event.case === "finished") finished = event.value.state;
    expect(finished, "the victim's watch ends with its finished record").toBe(RunState.FINISHED);
    const { run } = await runs.getRun({ runId: victimId });
    const best = checkpointObjectName(victimId, run!.bestEpoch, run!.epochs.find((epoch) => epoch.epoch === run!.bestEpoch)!.generation);
    const nats = await connect({ servers: cluster.nats.url });
    let latest: string;
    try {
      const objects = await nats.jetstream().views.os(checkpointsBucket);
      // The best epoch's object: bytes that are no protobuf at all; the latest: a RunCheckpoint whose weights are junk.
      await objects.putBlob({ name: best }, Uint8Array.from([0xff, 0xff, 0xff, 0xff, ...draw.bytes(1_000)]));
      latest = (await latestCheckpointName(nats, victimId))!;
      await objects.putBlob({ name: latest }, toBinary(RunCheckpointSchema, create(RunCheckpointSchema, { runId: victimId, epoch: 0, eta: 0.5, state: draw.bytes(4_000) })));
    } finally {
      await nats.close();
    }
    const door = evaluatorDoors().getNetwork!;
    for (const [choice, name] of [
      [NetworkChoice.BEST, best],
      [NetworkChoice.UNSPECIFIED, best],
      [NetworkChoice.LAST, latest],
    ] as const) {
      const outcome = await send(door, encode(door.method!.input, { runId: victimId, choice }), "case");
      expect({ code: status[outcome.code], details: outcome.details }).toMatchObject({ code: "DATA_LOSS", details: expect.stringMatching(/^the checkpoint of run .* is unreadable: /) });
      expect(outcome.details).toContain(name);
    }
    // The CLI says so in one line.
    const exported = await cluster.cli(["export", victimId, "--out", join(dir, "victim.json")]);
    expect(exported.code).not.toBe(0);
    expect(exported.stderr.trim().split("\n")).toEqual([expect.stringContaining(best)]);
  });
});

describe("a barrage of random and mutated requests at every method", () => {
  it(`answers ${fuzzCalls} bad calls and more without INTERNAL, UNKNOWN or a crash, its memory flat`, async () => {
    const doors = [...Object.values(evaluatorDoors()), ...Object.values(trainerDoors())];
    const services: Record<string, StartedService> = { evaluator: cluster.evaluator, "trainer (fuzzed)": fuzzedTrainer, "trainer (canary)": canaryTrainer, augment: cluster.augment };
    const sideClients = Object.entries(services).map(([name, service]) => [name, new RawClient(service.address, credentials.createInsecure())] as const);
    const sideDoors: Door[] = [];
    for (const [name, client] of sideClients) {
      sideDoors.push(...doorsOf(Health, name, client, { check: [{ service: "" }, { service: "mnist.v1.RunService" }] }).map((door) => ({ ...door, name: `${name} Health/${door.method!.name}` })));
      sideDoors.push(...reflectionDoors(name, client));
    }
    let skipped = 0;
    /** `count` calls spread over the doors, half random bytes, half mutations; health and reflection get a tenth. */
    const plan = (count: number) => {
      const calls: (() => Promise<unknown>)[] = [];
      while (calls.length < count) {
        const door = draw.int(10) === 0 ? draw.pick(sideDoors) : draw.pick(doors);
        const random = draw.int(2) === 0;
        const body = random ? draw.randomBody() : draw.mutate(draw.pick(door.seeds));
        if (door.method?.parent === RunService && ((door.method.name === "LaunchRun" && launchable(body)) || (door.method.name === "LaunchSweep" && sweepLaunchable(body)))) {
          skipped++;
          continue;
        }
        calls.push(() => send(door, body, random ? "random" : "mutated"));
      }
      return calls;
    };
    const rss = () => quietRss(Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service.child.pid!])), 3_000);

    await inParallel(plan(warmUpCalls));
    const before = await rss();
    const refusedBefore = tally.refused;
    await inParallel(plan(fuzzCalls + fuzzCalls / 10));
    const after = await rss();
    // One byte over the limit, as noise and as a well-formed request: refused unread.
    for (const door of doors) await expectRefused(door, draw.bytes(maxReceiveBytes + 1), status.RESOURCE_EXHAUSTED);
    const huge = "h".repeat(maxReceiveBytes);
    await expectRefused(evaluatorDoors().launchRun!, encode(LaunchRunRequestSchema, { spec: { ...tiny, name: huge } }), status.RESOURCE_EXHAUSTED);
    await expectRefused(evaluatorDoors().getRun!, encode(evaluatorDoors().getRun!.method!.input, { runId: huge }), status.RESOURCE_EXHAUSTED);
    await expectRefused(trainerDoors().decide!, encode(trainerDoors().decide!.method!.input, { runId: holder, decision: Decision.STOP, reason: huge }), status.RESOURCE_EXHAUSTED);
    for (const [, client] of sideClients) client.close();

    console.log(`gRPC fuzz seed ${seed}: ${tally.calls} calls, ${tally.refused} refused, ${skipped} launchable LaunchRun and LaunchSweep bodies left out; by door:\n${tally.table()}`);
    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log(`RSS MB after ${warmUpCalls} warm-up calls → after ${tally.refused - refusedBefore} more refused: ${Object.keys(before).map((name) => `${name} ${mb(before[name]!)} → ${mb(after[name]!)}`).join(", ")}`);
    expect(tally.violations.slice(0, 20), `${tally.violations.length} answers break the contract`).toEqual([]);
    expect(tally.refused - refusedBefore).toBeGreaterThanOrEqual(fuzzCalls);
    for (const name of Object.keys(before)) expect(after[name]!, `${name} RSS`).toBeLessThanOrEqual(before[name]! * 1.1);
  }, 120_000);
});

describe("after the barrage", () => {
  it("every service is alive and SERVING, none logged a handler failure, and the held run is untouched", async () => {
    for (const service of [cluster.evaluator, ...cluster.trainers, cluster.augment]) {
      expect(service.child.exitCode, service.logs[0]?.service).toBeNull();
      expect((await probeHealth(service.address)).detail).toBe("SERVING");
      expect(service.logs.filter((line) => line.msg === "gRPC handler failed")).toEqual([]);
    }
    expect((await trainer.getStatus({})).runs).toEqual([expect.objectContaining({ runId: holder, epoch: 0, eta: 0.5, paused: false })]);
    await trainer.stopTraining({ runId: holder, reason: "test over" });
  });

  it("the run that trained through it comes out bit-identical to its in-process twin", async () => {
    await expectIntact(cluster, canaryId, canary, await reference(canary));
  }, 120_000);
});

describe("mnistctl predict given hostile files", () => {
  const mnist = loadMnist();
  const digit = join(dir, "digit.png");
  const model = join(dir, "model.json");
  const sizes = [784, 3, 10];
  const layer = (rows: number, cols: number) => Array.from({ length: rows }, () => Array<number>(cols).fill(0.01));
  const network = (weights: number[][][], netSizes = sizes) => JSON.stringify({ sizes: netSizes, weights, biases: netSizes.slice(1).map((n) => Array.from({ length: n }, () => [0])), cost: "CrossEntropyCost" });
  const predict = (image: string, modelPath = model) => runNodeMeasured("cli/dist/main.js", ["predict", image, "--model", modelPath]);
  let normalPeak = 0;

  beforeAll(async () => {
    await sharp(Buffer.from(mnist.test.pixels.subarray(0, 784)), { raw: { width: 28, height: 28, channels: 1 } }).resize(112, 112).png().toFile(digit);
    writeFileSync(model, network([layer(3, 784), layer(10, 3)]));
    const normal = await predict(digit);
    expect(normal.stderr).toBe("");
    expect(normal.code).toBe(0);
    normalPeak = normal.peakRssBytes;
  });

  /** Exit 2 and one line on stderr, matching `line`: no stack, nothing else. */
  const expectOneLine = (result: { code: number | null; stderr: string; stdout: string }, line: RegExp) => {
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr.trimEnd()).toMatch(line);
  };

  it("a file that is no image, and random bytes named .jpg", async () => {
    const text = join(dir, "notes.png");
    writeFileSync(text, "not a picture at all\n");
    const noise = join(dir, "noise.jpg");
    writeFileSync(noise, draw.bytes(5_000));
    for (const path of [text, noise]) expectOneLine(await predict(path), new RegExp(`^mnistctl predict: ${path}: not a PNG or JPEG image sharp can decode`));
  });

  it("a 50-megapixel PNG: refused from its header, naming the limit, without decoding it", async () => {
    const big = join(dir, "big.png");
    // A blank page with a dark square on it: a few kilobytes of PNG, 50 million pixels decoded.
    await sharp({ create: { width: 8_000, height: 6_250, channels: 3, background: "#ffffff" } })
      .composite([{ input: { create: { width: 2_000, height: 3_000, channels: 3, background: "#000000" } }, left: 3_000, top: 1_500 }])
      .png()
      .toFile(big);
    const result = await predict(big);
    expectOneLine(result, new RegExp(`^mnistctl predict: ${big}: too large: 8000×6250 pixels \\(50\\.0 megapixels\\); at most 24 megapixels`));
    // Decoding it would take ~150 MB more than predicting a small picture.
    expect(result.peakRssBytes).toBeLessThan(normalPeak + 50 * 2 ** 20);
  });

  it("a network whose shapes disagree: weights of the wrong shape, or layers that do not fit MNIST", async () => {
    const wrongWeights = join(dir, "wrong-weights.json");
    writeFileSync(wrongWeights, network([layer(3, 784), layer(10, 4)]));
    expectOneLine(await predict(digit, wrongWeights), new RegExp(`^mnistctl predict: ${wrongWeights}: weights\\[1\\]\\[0\\] has 4 entries, sizes say 3$`));
    const wrongInput = join(dir, "wrong-input.json");
    writeFileSync(wrongInput, network([layer(3, 10), layer(10, 3)], [10, 3, 10]));
    expectOneLine(await predict(digit, wrongInput), new RegExp(`^mnistctl predict: --model ${wrongInput}: sizes\\[0\\] is 10; allowed: 784`));
  });
});
