import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCerts, type TestCerts } from "../harness/certs.js";
import { natsOperatorSetup } from "../harness/nats-creds.js";
import { startNatsServer, type NatsServer } from "../harness/nats-server.js";
import { runNode, startService, type StartedService } from "../harness/services.js";

// NATS access: user/password and token against a nats-server configured to require them, TLS with NATS_CA.
const user = "mnist";
const password = "pw-5b1e0c9d7a";
const natsToken = "nt-9e4c2a61f0";

let certs: TestCerts;
const servers: NatsServer[] = [];
const started: StartedService[] = [];
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(async () => {
  for (const service of started) if (service.child.exitCode === null) service.child.kill("SIGTERM");
  await Promise.all(started.map((service) => service.exited));
  await Promise.all(servers.map((server) => server.stop()));
  certs?.remove();
});

async function natsServer(options: Parameters<typeof startNatsServer>[0]): Promise<NatsServer> {
  const server = await startNatsServer(options);
  servers.push(server);
  return server;
}

/** The augment service: it needs NATS (a queue subscription) before it says `ready`. */
async function augment(env: Record<string, string>): Promise<StartedService> {
  const service = await startService("augment", env, 10_000);
  started.push(service);
  return service;
}

/**
 * Starts augment expecting NATS to refuse it: refused credentials are not retried (exit 1 before
 * `ready`); a TLS mismatch is retried like an unreachable server (never `ready`, so `exits: false`
 * waits a few seconds only). Returns what the harness saw.
 */
async function refused(env: Record<string, string>, { exits = true } = {}): Promise<string> {
  const waitMs = exits ? 20_000 : 4_000;
  const attempt = startService("augment", env, waitMs);
  const error = await attempt.then(
    (service) => {
      started.push(service);
      return undefined;
    },
    (reason: unknown) => reason as Error,
  );
  expect(error, "the service got ready without the right credentials").toBeInstanceOf(Error);
  expect(error!.message).toMatch(exits ? /^augment exited with 1 before ready/ : /^augment not ready within/);
  return error!.message;
}

describe("user and password (NATS_USER, NATS_PASSWORD)", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await natsServer({ config: `authorization { users = [ { user: "${user}", password: "${password}" } ] }\n` });
  });

  it("connects with them, and JetStream works for that user", async () => {
    const service = await augment({ NATS_URL: server.url, NATS_USER: user, NATS_PASSWORD: password });
    expect(service.logs.map((line) => line.msg)).toContain("nats connected");
  });

  it("is refused without them or with another password, and never logs the password", async () => {
    await refused({ NATS_URL: server.url });
    const output = await refused({ NATS_URL: server.url, NATS_USER: user, NATS_PASSWORD: "not-the-password-1234" });
    expect(output).not.toContain("not-the-password-1234");
  });
});

describe("token (NATS_TOKEN)", () => {
  it("connects with the token the server requires, not without it", async () => {
    const server = await natsServer({ config: `authorization { token: "${natsToken}" }\n` });
    await augment({ NATS_URL: server.url, NATS_TOKEN: natsToken });
    await refused({ NATS_URL: server.url });
  });
});

describe("a .creds file (NATS_CREDS), against a nats-server trusting an operator", () => {
  it("connects as the user, with JetStream (the trainer's KV heartbeat), and not without it", async () => {
    const setup = natsOperatorSetup();
    const server = await natsServer({ config: setup.serverConfig });
    const creds = join(certs.dir, "user.creds");
    writeFileSync(creds, setup.userCreds);
    const trainer = await startService("trainer", { NATS_URL: server.url, NATS_CREDS: creds }, 20_000);
    started.push(trainer);
    expect(trainer.logs.map((line) => line.msg)).toContain("trainer announced");
    const seed = /SU[A-Z2-7]+/.exec(setup.userCreds)![0];
    expect(JSON.stringify(trainer.logs) + trainer.stderr()).not.toContain(seed);
    await refused({ NATS_URL: server.url });
  });
});

describe("TLS (NATS_CA)", () => {
  it("connects to a nats-server requiring TLS when NATS_CA trusts its certificate", async () => {
    const server = await natsServer({ tls: certs.selfSigned });
    await augment({ NATS_URL: server.url, NATS_CA: certs.selfSigned.cert });
    await refused({ NATS_URL: server.url }, { exits: false });
    await refused({ NATS_URL: server.url, NATS_CA: certs.ca }, { exits: false });
  });
});

describe("NATS access configuration is checked at start-up", () => {
  const start = (env: Record<string, string>) => runNode("services/augment/dist/main.js", [], { NATS_URL: "nats://127.0.0.1:1", ...env }, 15_000);

  it.each([
    [{ NATS_USER: user }, /^configuration error: NATS_PASSWORD=\(unset\) is invalid: required when NATS_USER is set/],
    [{ NATS_PASSWORD: password }, /^configuration error: NATS_USER=\(unset\) is invalid: required when NATS_PASSWORD is set/],
    [{ NATS_TOKEN: natsToken, NATS_USER: user, NATS_PASSWORD: password }, /^configuration error: NATS_USER="\(set\)" is invalid: only one way to authenticate to NATS/],
    [{ NATS_CREDS: "bad.creds" }, /^configuration error: NATS_CREDS=".*bad\.creds" is invalid: a file holding NATS user credentials/],
    [{ NATS_CREDS: "missing.creds" }, /^configuration error: NATS_CREDS=".*missing\.creds" is invalid: a readable file .*\(ENOENT\)/],
    [{ NATS_CA: "self.key" }, /^configuration error: NATS_CA=".*self\.key" is invalid: a file holding a PEM certificate/],
  ])("%j: exit 2 with one line naming the variable, no secret in it", async (variables, message) => {
    writeFileSync(join(certs.dir, "bad.creds"), "-----BEGIN NATS USER JWT-----\nnot-a-jwt\n------END NATS USER JWT------\n");
    const env = Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, /\.(creds|key|pem)$/.test(value) ? join(certs.dir, value) : value]));
    const result = await start(env);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    for (const secret of [password, natsToken]) expect(result.stderr).not.toContain(secret);
  });
});
