import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { accessSpec, checkAccess, ConfigError, grpcClientAccess, grpcServerTls, loadConfig, looksLikeCreds } from "../src/index.js";

// Not real keys: PEM-shaped text is all start-up checks look at.
const dir = mkdtempSync(join(tmpdir(), "mnist-access-"));
const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
const cert = file("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n");
const key = file("key.pem", "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (source: Record<string, string>) => loadConfig(accessSpec, source, checkAccess);

describe("access configuration", () => {
  it("is all off by default", () => {
    const config = load({});
    expect(grpcServerTls(config)).toBeUndefined();
    expect(grpcClientAccess(config)).toEqual({});
  });

  it("TLS: the services dial each other trusting the certificate itself; mutual TLS: the CA, presenting their own", () => {
    expect(grpcClientAccess(load({ GRPC_TLS_CERT: cert, GRPC_TLS_KEY: key, AUTH_TOKEN: "t".repeat(32) }))).toEqual({ tls: { ca: Buffer.from(readText(cert)) }, token: "t".repeat(32) });
    const mutual = load({ GRPC_TLS_CERT: cert, GRPC_TLS_KEY: key, GRPC_TLS_CA: ca });
    expect(grpcServerTls(mutual)).toEqual({ cert: Buffer.from(readText(cert)), key: Buffer.from(readText(key)), ca: Buffer.from(readText(ca)) });
    expect(grpcClientAccess(mutual)).toEqual({ tls: { ca: Buffer.from(readText(ca)), cert: Buffer.from(readText(cert)), key: Buffer.from(readText(key)) } });
  });

  it.each([
    [{ GRPC_TLS_CERT: cert }, "GRPC_TLS_KEY", /required when GRPC_TLS_CERT is set/],
    [{ GRPC_TLS_CA: ca }, "GRPC_TLS_CERT", /required when GRPC_TLS_CA is set/],
    [{ GRPC_TLS_CERT: key, GRPC_TLS_KEY: key }, "GRPC_TLS_CERT", /a file holding a PEM certificate/],
    [{ NATS_USER: "u" }, "NATS_PASSWORD", /required when NATS_USER is set/],
    [{ NATS_TOKEN: "t", NATS_CREDS: file("c.creds", creds()) }, "NATS_CREDS", /only one way to authenticate to NATS/],
  ])("%j: a ConfigError naming %s", (source, variable, allowed) => {
    const error = captured(() => load(source));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ variable });
    expect((error as Error).message).toMatch(allowed);
  });

  it("a secret is never in the error: a bad NATS_PASSWORD pairing names the user only", () => {
    const error = captured(() => load({ NATS_PASSWORD: "hunter2-secret" }));
    expect((error as Error).message).not.toContain("hunter2-secret");
  });

  it("recognises a .creds file by its user JWT and user seed blocks", () => {
    expect(looksLikeCreds(creds())).toBe(true);
    expect(looksLikeCreds(creds().replace("SUA", "SAA"))).toBe(false); // an account seed is not a user's
    expect(looksLikeCreds("-----BEGIN NATS USER JWT-----\nnot-a-jwt\n------END NATS USER JWT------\n")).toBe(false);
  });
});

function readText(path: string): string {
  return readFileSync(path, "utf8");
}

function captured(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

function creds(): string {
  return [
    "-----BEGIN NATS USER JWT-----",
    "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJVIn0.c2ln",
    "------END NATS USER JWT------",
    "",
    "-----BEGIN USER NKEY SEED-----",
    "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4",
    "------END USER NKEY SEED------",
    "",
  ].join("\n");
}
