import { readFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, GrpcStatusError, status } from "@mnist/grpc";
import { TrainerService } from "@mnist/protocol";
import { makeTestCerts, type TestCerts } from "../harness/certs.js";
import { startCluster, type Cluster } from "../harness/cluster.js";
import { freePort } from "../harness/nats-server.js";
import { runNode } from "../harness/services.js";

// gRPC over TLS (GRPC_TLS_CERT + GRPC_TLS_KEY) and mutual TLS (+ GRPC_TLS_CA), with certificates made by openssl for this run.
const quickRun = ["run", "--sizes", "784,10,10", "--train-limit", "1000", "--epochs", "2", "--augment", "none", "--follow", "--json"];
const lastLine = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs?.remove());

describe("TLS with a self-signed certificate shared by the services", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ env: { GRPC_TLS_CERT: certs.selfSigned.cert, GRPC_TLS_KEY: certs.selfSigned.key }, evaluatorEnv: { DASHBOARD_PORT: String(await freePort()) } });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("serves TLS only: plaintext clients are refused, mnistctl needs --ca", async () => {
    expect(cluster.evaluator.logs.find((line) => line.msg === "ready")).toMatchObject({ tls: "on", auth: "off" });
    const plaintext = await cluster.cli(["list"]);
    expect(plaintext.code).toBe(1);
    expect(plaintext.stderr).toMatch(/^mnistctl list: the evaluator at 127\.0\.0\.1:\d+ is unavailable/);
    const trusted = await cluster.cli(["list", "--ca", certs.selfSigned.cert]);
    expect(trusted.stderr).toBe("");
    expect(trusted.code).toBe(0);
    // Trusting another CA is not enough.
    expect((await cluster.cli(["list", "--ca", certs.ca])).code).toBe(1);
    expect((await cluster.cli(["health", "--ca", certs.selfSigned.cert])).code).toBe(0);
    expect((await cluster.cli(["health"])).code).toBe(1);
  });

  it("serves the dashboard over HTTPS with the same certificate, telling browsers never to use plaintext for it (HSTS)", async () => {
    const url = String(cluster.evaluator.logs.find((line) => line.msg === "ready")!.dashboard);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const answer = await new Promise<{ status?: number; hsts?: string | string[] }>((resolve, reject) =>
      httpsGet(url, { ca: readFileSync(certs.selfSigned.cert) }, (response) => {
        response.resume();
        resolve({ status: response.statusCode, hsts: response.headers["strict-transport-security"] });
      }).on("error", reject),
    );
    expect(answer).toEqual({ status: 200, hsts: "max-age=31536000" });
  });

  it("runs end to end, the evaluator dialling the trainer over TLS (MNISTCTL_CA)", async () => {
    const result = await runNode("cli/dist/main.js", [...quickRun, "--server", cluster.server], { MNISTCTL_CA: certs.selfSigned.cert }, 120_000);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(lastLine(result.stdout)).toMatchObject({ msg: "run finished", state: "finished", epochs: 2 });
  });
});

describe("mutual TLS: GRPC_TLS_CA set, clients must present a certificate it signed", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ env: { GRPC_TLS_CERT: certs.server.cert, GRPC_TLS_KEY: certs.server.key, GRPC_TLS_CA: certs.ca } });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("refuses clients without a certificate or with one from another CA; accepts --cert/--key signed by the CA", async () => {
    expect(cluster.evaluator.logs.find((line) => line.msg === "ready")).toMatchObject({ tls: "mutual" });
    const noCert = await cluster.cli(["list", "--ca", certs.ca]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr.trim().split("\n")).toHaveLength(1);
    expect(noCert.stderr).toMatch(/^mnistctl list: the evaluator at .* is unavailable \(.*certificate required/);
    expect((await cluster.cli(["list", "--ca", certs.ca, "--cert", certs.stranger.cert, "--key", certs.stranger.key])).code).toBe(1);
    const accepted = await cluster.cli(["list", "--ca", certs.ca, "--cert", certs.client.cert, "--key", certs.client.key]);
    expect(accepted.stderr).toBe("");
    expect(accepted.code).toBe(0);
    const half = await cluster.cli(["list", "--ca", certs.ca, "--cert", certs.client.cert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--key is required with --cert/);

    // The trainer refuses a client without a certificate, whoever it is.
    const trainer = createClient(TrainerService, cluster.trainers[0]!.address, { tls: { ca: readFileSync(certs.ca) } });
    try {
      const error = await trainer.getStatus({}).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(GrpcStatusError);
      expect((error as GrpcStatusError).code).toBe(status.UNAVAILABLE);
    } finally {
      trainer.close();
    }
  });

  it("runs end to end, the evaluator presenting its certificate to the trainer", async () => {
    const env = { MNISTCTL_CA: certs.ca, MNISTCTL_CERT: certs.client.cert, MNISTCTL_KEY: certs.client.key };
    const result = await runNode("cli/dist/main.js", [...quickRun, "--server", cluster.server], env, 15_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\nevaluator: ${JSON.stringify(cluster.evaluator.logs.slice(-8))}\ntrainer: ${JSON.stringify(cluster.trainers[0]!.logs.slice(-8))}`);
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(lastLine(result.stdout)).toMatchObject({ msg: "run finished", state: "finished", epochs: 2 });
  });
});

describe("mnistctl's TLS flags are checked before dialling", () => {
  it.each([
    [["--ca", "missing.pem"], /^mnistctl list: --ca is ".*missing\.pem"; allowed: a readable file holding a PEM certificate \(ENOENT\)$/],
    [["--ca", "self.key"], /^mnistctl list: --ca is ".*self\.key"; allowed: a file holding a PEM certificate$/],
    [["--ca", "ca.pem", "--cert", "client.pem", "--key", "client.pem"], /^mnistctl list: --key is ".*client\.pem"; allowed: a file holding a PEM private key$/],
    [["--key", "client.key"], /^mnistctl list: --cert is required with --key/],
  ])("%j: exit 2 with one line", async (flags, message) => {
    const args = flags.map((flag) => (flag.startsWith("--") ? flag : `${certs.dir}/${flag}`));
    const result = await runNode("cli/dist/main.js", ["list", ...args, "--server", "127.0.0.1:1"], {}, 15_000);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
  });
});

describe("TLS configuration is checked at start-up", () => {
  const start = (env: Record<string, string>) => runNode("services/augment/dist/main.js", [], { NATS_URL: "nats://127.0.0.1:1", ...env }, 15_000);

  it.each([
    [{ GRPC_TLS_CERT: "self.pem" }, /^configuration error: GRPC_TLS_KEY=\(unset\) is invalid: required when GRPC_TLS_CERT is set/],
    [{ GRPC_TLS_KEY: "self.key" }, /^configuration error: GRPC_TLS_CERT=\(unset\) is invalid: required when GRPC_TLS_KEY is set/],
    [{ GRPC_TLS_CA: "ca.pem" }, /^configuration error: GRPC_TLS_CERT=\(unset\) is invalid: required when GRPC_TLS_CA is set/],
    [{ GRPC_TLS_CERT: "missing.pem", GRPC_TLS_KEY: "self.key" }, /^configuration error: GRPC_TLS_CERT=".*missing\.pem" is invalid: a readable file holding a PEM certificate .*\(ENOENT\)/],
    [{ GRPC_TLS_CERT: "self.pem", GRPC_TLS_KEY: "self.pem" }, /^configuration error: GRPC_TLS_KEY=".*self\.pem" is invalid: a file holding a PEM private key/],
    [{ GRPC_TLS_CERT: "self.key", GRPC_TLS_KEY: "self.key" }, /^configuration error: GRPC_TLS_CERT=".*self\.key" is invalid: a file holding a PEM certificate/],
  ])("%j: exit 2 with one line naming the variable", async (relative, message) => {
    const env = Object.fromEntries(Object.entries(relative).map(([name, file]) => [name, `${certs.dir}/${file}`]));
    const result = await start(env);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain("PRIVATE KEY-----\n");
  });
});
