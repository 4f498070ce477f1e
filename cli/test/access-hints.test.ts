import { describe, expect, it } from "vitest";
import { clientAccessHints } from "../src/launcher/access.js";

describe("mnistctl up --keep: how to reach the services from another terminal", () => {
  it("says nothing more without access settings", () => {
    expect(clientAccessHints({})).toEqual([]);
  });

  it("points at the token's file, and at the CA and client certificate for (mutual) TLS, never printing the token", () => {
    const hints = clientAccessHints({ AUTH_TOKEN: "s3cret-token", GRPC_TLS_CERT: "/tls/server.pem", GRPC_TLS_KEY: "/tls/server.key", GRPC_TLS_CA: "/tls/ca.pem" });
    expect(hints.join("\n")).not.toContain("s3cret-token");
    expect(hints).toEqual([
      "export MNISTCTL_TOKEN=…        (the AUTH_TOKEN the services were started with)",
      "export MNISTCTL_CA=/tls/ca.pem",
      "export MNISTCTL_CERT=/tls/server.pem MNISTCTL_KEY=/tls/server.key",
    ]);
    expect(clientAccessHints({ AUTH_TOKEN_FILE: "/run/secrets/token", GRPC_TLS_CERT: "/tls/self.pem", GRPC_TLS_KEY: "/tls/self.key" })).toEqual([
      "export MNISTCTL_TOKEN=$(cat /run/secrets/token)",
      "export MNISTCTL_CA=/tls/self.pem",
    ]);
  });
});
