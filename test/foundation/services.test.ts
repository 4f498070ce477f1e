import { createClient, ServingStatus } from "@mnist/grpc";
import { Health } from "@mnist/protocol";
import { describe, expect, it } from "vitest";
import { natsUrl } from "../harness/nats.js";
import { groupAlive, runNode, startService, type ServiceName } from "../harness/services.js";

const services: ServiceName[] = ["augment", "trainer", "evaluator"];

describe.each(services)("the %s service", (name) => {
  it("starts against a real nats-server, reports SERVING, and exits 0 on SIGTERM within 5 s leaving no process", async () => {
    const service = await startService(name, { NATS_URL: natsUrl() });
    try {
      expect(service.logs.find((line) => line.msg === "ready")).toMatchObject({ service: name, level: "info" });
      const health = createClient(Health, service.address);
      expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
      health.close();
    } finally {
      const started = Date.now();
      service.child.kill("SIGTERM");
      expect(await service.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(groupAlive(service.child.pid!)).toBe(false);
      expect(service.logs.map((line) => line.msg)).toContain("stopped");
    }
  });

  it.each([
    ["GRPC_PORT", "70000", "an integer from 0 to 65535"],
    ["NATS_URL", "http://example", "scheme nats: or tls:"],
    ["LOG_LEVEL", "loud", "one of fatal, error, warn, info, debug, trace, silent"],
  ])("exits 2 naming %s=%s", async (variable, value, allowed) => {
    const result = await runNode(`services/${name}/dist/main.js`, [], { NATS_URL: natsUrl(), [variable]: value });
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${variable}="${value}"`);
    expect(lines[0]).toContain(allowed);
    expect(result.stdout).toBe("");
  });
});

describe("trainer-specific configuration", () => {
  it("rejects TRAINER_MAX_RUNS=0 naming it", async () => {
    const result = await runNode("services/trainer/dist/main.js", [], { NATS_URL: natsUrl(), TRAINER_MAX_RUNS: "0" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TRAINER_MAX_RUNS="0" is invalid: an integer from 1 to 64');
  });
});
