import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, env, loadConfig } from "../src/index.js";

const spec = {
  PORT: env.port({ default: 50051 }),
  URL: env.url({ protocols: ["nats:"], default: "nats://127.0.0.1:4222" }),
  LEVEL: env.oneOf(["info", "debug"] as const, { default: "info" }),
  RUNS: env.integer({ min: 1, max: 8 }),
  TOKEN: env.secret(),
};

describe("environment configuration", () => {
  it("applies defaults and parses values", () => {
    expect(loadConfig(spec, { RUNS: "3" })).toEqual({ PORT: 50051, URL: "nats://127.0.0.1:4222", LEVEL: "info", RUNS: 3, TOKEN: undefined });
    expect(loadConfig(spec, { RUNS: "8", PORT: "0", URL: "nats://a:1, nats://b:2", TOKEN: "s3cret" })).toMatchObject({ PORT: 0, URL: "nats://a:1,nats://b:2", TOKEN: "s3cret" });
  });

  it.each([
    [{ RUNS: "9" }, 'RUNS="9" is invalid: an integer from 1 to 8'],
    [{ RUNS: "2.5" }, 'RUNS="2.5" is invalid: an integer from 1 to 8'],
    [{}, "RUNS=(unset) is invalid: required; an integer from 1 to 8"],
    [{ RUNS: "1", PORT: "-1" }, 'PORT="-1" is invalid: an integer from 0 to 65535'],
    [{ RUNS: "1", URL: "nats://" }, 'URL="nats://" is invalid'],
    [{ RUNS: "1", LEVEL: "loud" }, 'LEVEL="loud" is invalid: one of info, debug'],
  ])("names the variable, the value and what is allowed for %j", (source, message) => {
    expect(() => loadConfig(spec, source)).toThrow(ConfigError);
    expect(() => loadConfig(spec, source)).toThrow(message);
  });

  it("refuses a secret that is the shipped placeholder, and a token too short to resist guessing, never saying the value", () => {
    const tokens = { RUNS: env.integer({ min: 1, max: 8 }), TOKEN: env.secret(), AUTH: env.secret({ minChars: 32 }) };
    expect(() => loadConfig(tokens, { RUNS: "1", TOKEN: "change-me" })).toThrow(
      'TOKEN="(secret)" is invalid: a secret of your own, not the placeholder the deployment files ship (e.g. the output of openssl rand -hex 32)',
    );
    expect(() => loadConfig(tokens, { RUNS: "1", AUTH: "1234" })).toThrow('AUTH="(secret)" is invalid: at least 32 characters (e.g. the output of openssl rand -hex 32)');
    expect(loadConfig(tokens, { RUNS: "1", AUTH: "x".repeat(32) }).AUTH).toBe("x".repeat(32));
  });

  it("reads a secret from the file <NAME>_FILE names (a mounted Docker or Kubernetes secret)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-config-"));
    try {
      writeFileSync(join(dir, "token"), "from-a-file\n");
      expect(loadConfig(spec, { RUNS: "1", TOKEN_FILE: join(dir, "token") }).TOKEN).toBe("from-a-file");
      writeFileSync(join(dir, "empty"), "");
      expect(loadConfig(spec, { RUNS: "1", TOKEN_FILE: join(dir, "empty") }).TOKEN).toBeUndefined();
      expect(() => loadConfig(spec, { RUNS: "1", TOKEN_FILE: join(dir, "absent") })).toThrow(`TOKEN_FILE="${join(dir, "absent")}" is invalid: a readable file holding TOKEN (ENOENT)`);
      expect(() => loadConfig(spec, { RUNS: "1", TOKEN: "x", TOKEN_FILE: join(dir, "token") })).toThrow("TOKEN_FILE");
      // Not for ordinary variables: only secrets have a file form.
      expect(loadConfig(spec, { RUNS: "1", LEVEL_FILE: join(dir, "token") }).LEVEL).toBe("info");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
