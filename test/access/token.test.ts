import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, GrpcStatusError, status } from "@mnist/grpc";
import { Health, RunService, TrainerService } from "@mnist/protocol";
import { startCluster, type Cluster } from "../harness/cluster.js";
import { runNode } from "../harness/services.js";

// Bearer token: AUTH_TOKEN on every service; RunService and TrainerService refuse calls without it, health stays open.
const token = "tok-3f9c1a77e2b54d0c9e1f-8d2b6a0e4c71";
const wrong = "wrong-token-8d2e6b1c44af";
const quickRun = ["run", "--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "2", "--augment", "none", "--follow", "--json"];

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ env: { AUTH_TOKEN: token } });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

async function refusal(call: () => Promise<unknown>): Promise<GrpcStatusError> {
  const error = await call().then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(GrpcStatusError);
  return error as GrpcStatusError;
}

describe("AUTH_TOKEN", () => {
  it("refuses RunService calls without the token, or with another, as UNAUTHENTICATED without echoing what was sent", async () => {
    const none = createClient(RunService, cluster.server);
    const other = createClient(RunService, cluster.server, { token: wrong });
    const right = createClient(RunService, cluster.server, { token });
    try {
      const missing = await refusal(() => none.listRuns({}));
      expect(missing.code).toBe(status.UNAUTHENTICATED);
      expect(missing.message).toMatch(/missing bearer token/);
      const invalid = await refusal(() => other.listRuns({}));
      expect(invalid.code).toBe(status.UNAUTHENTICATED);
      expect(invalid.message).toBe("invalid bearer token");
      // A streaming call is refused too, before it watches anything.
      const watch = await refusal(async () => {
        for await (const _ of other.watchRun({ runId: "run-x" })) break;
      });
      expect(watch.code).toBe(status.UNAUTHENTICATED);
      await expect(right.listRuns({})).resolves.toBeDefined();
    } finally {
      for (const client of [none, other, right]) client.close();
    }
  });

  it("refuses TrainerService calls without it; health stays open on every service", async () => {
    const trainer = createClient(TrainerService, cluster.trainers[0]!.address);
    const trainerWithToken = createClient(TrainerService, cluster.trainers[0]!.address, { token });
    try {
      expect((await refusal(() => trainer.getStatus({}))).code).toBe(status.UNAUTHENTICATED);
      await expect(trainerWithToken.getStatus({})).resolves.toBeDefined();
      for (const service of [cluster.evaluator, cluster.augment, ...cluster.trainers]) {
        const health = createClient(Health, service.address);
        try {
          expect((await health.check({ service: "" })).status).toBe(1); // SERVING
        } finally {
          health.close();
        }
      }
    } finally {
      trainer.close();
      trainerWithToken.close();
    }
  });

  it("mnistctl without a token says UNAUTHENTICATED in one line and exits 1; --token and MNISTCTL_TOKEN work", async () => {
    const refused = await cluster.cli(["list"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/^mnistctl list: UNAUTHENTICATED: missing bearer token.*--token or MNISTCTL_TOKEN/);
    const wrongToken = await cluster.cli(["list", "--token", wrong]);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(/invalid bearer token/);
    expect(wrongToken.stderr + wrongToken.stdout).not.toContain(wrong);
    expect((await cluster.cli(["list", "--token", token])).code).toBe(0);
    expect((await cluster.cli(["health"])).code).toBe(0);
  });

  it("a run goes through: mnistctl → evaluator → trainer, every call carrying the token (MNISTCTL_TOKEN)", async () => {
    const result = await runNode("cli/dist/main.js", [...quickRun, "--server", cluster.server], { MNISTCTL_TOKEN: token }, 120_000);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const last = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(last).toMatchObject({ msg: "run finished", state: "finished", epochs: 2 });
    for (const service of [cluster.evaluator, ...cluster.trainers]) expect(JSON.stringify(service.logs)).not.toContain(token);
  });

  // Last: it leaves this machine's address waiting on the evaluator.
  it("logs each refused token with the address and never the value, and makes an address that keeps failing wait, the right token too", async () => {
    const other = createClient(RunService, cluster.server, { token: wrong });
    const right = createClient(RunService, cluster.server, { token });
    try {
      let code: status | undefined;
      // A few failures are free (this file made some already); then the address waits, right token or not.
      for (let attempt = 0; attempt < 10 && code !== status.RESOURCE_EXHAUSTED; attempt++) code = (await refusal(() => other.listRuns({}))).code;
      expect(code).toBe(status.RESOURCE_EXHAUSTED);
      const waiting = await refusal(() => right.listRuns({}));
      expect(waiting.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(waiting.message).toMatch(/^too many failed sign-ins from 127\.0\.0\.1: try again in \d+ s$/);
      const refused = cluster.evaluator.logs.filter((line) => line.msg === "rejected" && line.source === "grpc-auth");
      expect(refused.map((line) => line.reason)).toContain("invalid-token");
      expect(refused.map((line) => line.reason)).toContain("too-many-failures");
      expect(refused.every((line) => line.address === "127.0.0.1")).toBe(true);
      expect(JSON.stringify(cluster.evaluator.logs)).not.toContain(wrong);
      // The wait ends.
      await new Promise((resolve) => setTimeout(resolve, 1_000 * Number(/in (\d+) s/.exec(waiting.message)![1])));
      await expect(right.listRuns({})).resolves.toBeDefined();
    } finally {
      other.close();
      right.close();
    }
  });
});

describe("AUTH_TOKEN at start-up", () => {
  it("a service refuses a token shorter than 32 characters, and the shipped placeholder, in one line naming the variable", async () => {
    for (const [value, allowed] of [
      ["short-token-123", "at least 32 characters"],
      ["change-me", "a secret of your own, not the placeholder the deployment files ship"],
    ]) {
      const started = await runNode("services/trainer/dist/main.js", [], { AUTH_TOKEN: value!, NATS_URL: cluster.nats.url, GRPC_PORT: "0" });
      expect(started.code).toBe(2);
      expect(started.stderr.trim().split("\n")).toEqual([`configuration error: AUTH_TOKEN="(secret)" is invalid: ${allowed} (e.g. the output of openssl rand -hex 32)`]);
      expect(started.stderr + started.stdout).not.toContain(value);
    }
  });
});
