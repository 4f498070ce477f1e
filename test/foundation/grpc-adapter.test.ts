import { bind, createClient, GrpcStatusError, notFound, ServingStatus, startGrpcHost, status, type GrpcHost } from "@mnist/grpc";
import { invalidArgument } from "@mnist/errors";
import { Decision, Health, RunService, RunState } from "@mnist/protocol";
import { Client as RawClient, credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetwork, decodeCheckpoint } from "@mnist/core";

describe("gRPC adapter on loopback", () => {
  let host: GrpcHost;
  let client: ReturnType<typeof createClient<typeof RunService>>;
  const internalErrors: unknown[] = [];

  beforeAll(async () => {
    host = await startGrpcHost({
      address: "127.0.0.1:0",
      onInternalError: (error) => internalErrors.push(error),
      services: [
        bind(RunService, {
          async getRun(request) {
            if (request.runId === "missing") throw notFound("run", request.runId);
            if (request.runId === "boom") throw new Error("disk on fire");
            // Typed errors from the libraries below: the core's, with its domain codes.
            if (request.runId === "corrupt") decodeCheckpoint(new Uint8Array([1, 2, 3]), "checkpoint x");
            if (request.runId === "bad-sizes") createNetwork({ sizes: [784, 70_000, 10] }, 1n);
            return { run: { runId: request.runId, state: RunState.RUNNING, spec: { sizes: [784, 30, 10] } } };
          },
          async launchRun(request) {
            const eta = request.spec?.eta ?? 0;
            if (!(eta > 0)) throw invalidArgument("spec.eta", eta, "a learning rate greater than 0");
            return { runId: "r-1", state: RunState.QUEUED };
          },
          async *watchRun(request) {
            if (request.runId === "missing") throw notFound("run", request.runId);
            for (let epoch = 0; epoch < 3; epoch++) yield { event: { case: "epoch", value: { runId: request.runId, epoch, valAccuracy: 0.9 + epoch / 100, decision: Decision.CONTINUE } } };
            yield { event: { case: "finished", value: { runId: request.runId, state: RunState.FINISHED, bestEpoch: 2 } } };
          },
        }),
      ],
    });
    host.health.set(ServingStatus.SERVING);
    client = createClient(RunService, host.address);
  });

  afterAll(async () => {
    client.close();
    await host.shutdown(1000);
  });

  it("answers a unary call with a typed message", async () => {
    const response = await client.getRun({ runId: "abc" });
    expect(response.run?.runId).toBe("abc");
    expect(response.run?.state).toBe(RunState.RUNNING);
    expect(response.run?.spec?.sizes).toEqual([784, 30, 10]);
  });

  it("answers a typed error from the core with its status, not INTERNAL", async () => {
    const failure = async (runId: string) =>
      client.getRun({ runId }).then(
        () => undefined,
        (thrown: unknown) => thrown as GrpcStatusError,
      );
    const before = internalErrors.length;
    const corrupt = await failure("corrupt");
    expect(corrupt?.code).toBe(status.DATA_LOSS);
    expect(corrupt?.message).toContain("checkpoint x");
    const sizes = await failure("bad-sizes");
    expect(sizes?.code).toBe(status.INVALID_ARGUMENT);
    expect(sizes?.message).toContain("sizes[1]");
    expect(internalErrors.length).toBe(before);
  });

  it("streams server-streaming responses in order", async () => {
    const events = [];
    for await (const response of client.watchRun({ runId: "w" })) events.push(response.event);
    expect(events.map((event) => event.case)).toEqual(["epoch", "epoch", "epoch", "finished"]);
    expect(events[2]?.case === "epoch" && events[2].value.epoch).toBe(2);
  });

  it("ends a server stream that fails before its first message with the handler's status", async () => {
    const consume = async () => {
      for await (const _ of client.watchRun({ runId: "missing" }, { timeoutMs: 5000 })) return;
    };
    await expect(consume()).rejects.toMatchObject({ code: status.NOT_FOUND, message: 'run "missing" not found' });
  });

  it("maps typed errors to gRPC statuses with the field, value and what is allowed", async () => {
    const invalid = await client.launchRun({ spec: { eta: -1 } }).catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(GrpcStatusError);
    expect((invalid as GrpcStatusError).code).toBe(status.INVALID_ARGUMENT);
    expect((invalid as GrpcStatusError).message).toBe("spec.eta is -1; allowed: a learning rate greater than 0");
    await expect(client.getRun({ runId: "missing" })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(client.getRun({ runId: "boom" })).rejects.toMatchObject({ code: status.INTERNAL });
    expect(internalErrors).toHaveLength(1);
  });

  it("answers UNIMPLEMENTED for methods without handlers", async () => {
    await expect(client.listRuns({})).rejects.toMatchObject({ code: status.UNIMPLEMENTED, message: "mnist.v1.RunService/ListRuns is not implemented yet" });
  });

  it("serves grpc.health.v1.Health", async () => {
    const health = createClient(Health, host.address);
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await health.check({ service: "mnist.v1.RunService" })).status).toBe(ServingStatus.SERVING);
    await expect(health.check({ service: "nope" })).rejects.toMatchObject({ code: status.NOT_FOUND });
    health.close();
  });

  it("serves server reflection listing the services it serves, and no others", async () => {
    const raw = new RawClient(host.address, credentials.createInsecure());
    const call = raw.makeBidiStreamRequest(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      (message: Buffer) => message,
      (bytes: Buffer) => bytes,
      new Metadata(),
    );
    // ServerReflectionRequest{list_services: ""} is field 7, length-delimited, empty.
    call.write(Buffer.from([0x3a, 0x00]));
    call.end();
    const chunks: Buffer[] = [];
    for await (const chunk of call) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("latin1");
    expect(text).toContain("mnist.v1.RunService");
    expect(text).toContain("grpc.health.v1.Health");
    // Only what this server answers: TrainerService is in the same protocol files, served elsewhere.
    expect(text).not.toContain("mnist.v1.TrainerService");
    raw.close();
  });
});
