import { readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCerts, type TestCerts } from "../harness/certs.js";
import { startCluster, type Cluster } from "../harness/cluster.js";
import { startNatsServer, type NatsServer } from "../harness/nats-server.js";
import { repoRoot, runNode } from "../harness/services.js";

// One cluster with every access setting at once — bearer token, gRPC TLS, NATS user/password over
// TLS — at debug level; then every line any process wrote is searched for every secret.
const authToken = "at-7c0d5e2b9f14a6e3-5b1e9c0d7a2f";
const natsUser = "pipeline";
const natsPassword = "np-2f8a61c4d0e97b35";

let certs: TestCerts;
let keyBody: string;
const natsConfig = () => `authorization { users = [ { user: "${natsUser}", password: "${natsPassword}" } ] }\n`;

beforeAll(() => {
  certs = makeTestCerts();
  // The private key's base64 body: no log line may carry it either.
  keyBody = readFileSync(certs.selfSigned.key, "utf8").split("\n").filter((line) => line && !line.startsWith("-----")).join("");
});
afterAll(() => certs?.remove());

function secretsIn(text: string): string[] {
  const found = [authToken, natsPassword, keyBody, keyBody.slice(0, 24)].filter((secret) => text.includes(secret));
  return found.map((secret) => (secret === authToken ? "AUTH_TOKEN" : secret === natsPassword ? "NATS_PASSWORD" : "the TLS private key"));
}

describe("no secret in any log line, error or mnistctl output", () => {
  let cluster: Cluster;
  const outputs: string[] = [];
  beforeAll(async () => {
    cluster = await startCluster({
      nats: { config: natsConfig(), tls: certs.selfSigned },
      env: {
        LOG_LEVEL: "debug",
        AUTH_TOKEN: authToken,
        GRPC_TLS_CERT: certs.selfSigned.cert,
        GRPC_TLS_KEY: certs.selfSigned.key,
        NATS_USER: natsUser,
        NATS_PASSWORD: natsPassword,
        NATS_CA: certs.selfSigned.cert,
      },
      cliEnv: { MNISTCTL_CA: certs.selfSigned.cert },
    });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("a run and the cluster commands, with the token given every way, and refused calls", async () => {
    const run = await cluster.cli(["run", "--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "2", "--augment", "none", "--follow", "--token", authToken]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/test accuracy/);
    outputs.push(run.stdout, run.stderr);
    const runId = /^run (run-\S+) finished/m.exec(run.stdout)![1]!;
    for (const args of [["list", "--json"], ["get", runId, "--json"], ["watch", runId], ["health"], ["health", "--json"]]) {
      const result = await runNode("cli/dist/main.js", [...args, "--server", cluster.server], { MNISTCTL_CA: certs.selfSigned.cert, MNISTCTL_TOKEN: authToken });
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
      outputs.push(result.stdout, result.stderr);
    }
    // Refusals and failures: no token, a wrong CA, a bad flag.
    for (const args of [["list"], ["list", "--ca", certs.ca, "--token", authToken], ["set-lr", runId, "-1", "--token", authToken]]) {
      const result = await cluster.cli(args);
      expect(result.code).not.toBe(0);
      outputs.push(result.stdout, result.stderr);
    }
  });

  it("finds none of them in any service's log lines or stderr, nor in mnistctl's output", async () => {
    const services = [cluster.evaluator, ...cluster.trainers, cluster.augment];
    // Shut down too, so the stop lines are searched as well.
    await cluster.stop();
    for (const service of services) {
      const lines = service.logs.map((line) => JSON.stringify(line)).join("\n");
      expect(service.logs.length).toBeGreaterThan(5);
      expect(secretsIn(lines), `${service.logs[0]?.service} log lines`).toEqual([]);
      expect(secretsIn(service.stderr()), `${service.logs[0]?.service} stderr`).toEqual([]);
    }
    expect(services.some((service) => service.logs.some((line) => line.level === "debug"))).toBe(true);
    expect(secretsIn(outputs.join("\n")), "mnistctl output").toEqual([]);
    expect(outputs.join("\n")).toMatch(/UNAUTHENTICATED/);
  });
});

describe("mnistctl up with every access setting in its environment", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer({ config: natsConfig(), tls: certs.selfSigned });
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it("starts the services with them, reaches them with them, and prints none of them (--service-logs)", async () => {
    const env = {
      ...process.env,
      LOG_LEVEL: "debug",
      AUTH_TOKEN: authToken,
      GRPC_TLS_CERT: certs.selfSigned.cert,
      GRPC_TLS_KEY: certs.selfSigned.key,
      NATS_URL: nats.url,
      NATS_USER: natsUser,
      NATS_PASSWORD: natsPassword,
      NATS_CA: certs.selfSigned.cert,
    };
    const args = ["up", "--augment-replicas", "1", "--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "2", "--augment", "none", "--service-logs"];
    const child = spawn(process.execPath, [`${repoRoot}cli/dist/main.js`, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, stderr.slice(-3000)).toBe(0);
    expect(stdout).toMatch(/test accuracy/);
    // --service-logs: every service's lines, so the services' own words are searched too.
    expect(stderr).toMatch(/evaluator \| .*"tls":"on","auth":"bearer token"/);
    expect(secretsIn(stdout + stderr)).toEqual([]);
  }, 90_000);
});
