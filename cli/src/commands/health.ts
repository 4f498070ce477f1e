import { probeHealth } from "@mnist/grpc";
import type { Command } from "../command.js";
import { clientAccess } from "../access.js";
import { serverAddress, serverFlag } from "../cluster.js";
import { FlagReader, parseFlags } from "../flags.js";

export const healthCommand: Command = {
  name: "health",
  summary: "ask a service's gRPC health (exit 0 when SERVING, 1 otherwise)",
  usage: [
    "mnistctl health [--server HOST:PORT] [--ca FILE [--cert FILE --key FILE]] [--service NAME] [--timeout MS] [--json]",
    "",
    "One grpc.health.v1.Health/Check, as Kubernetes' gRPC probes make it: any of the services",
    "(evaluator :50051, trainer :50052, augment :50053). --service asks about one gRPC service",
    "(such as mnist.v1.RunService) instead of the whole server; --timeout defaults to 2000.",
    "Health needs no token; --ca (MNISTCTL_CA) turns TLS on, --cert/--key add a client certificate.",
  ].join("\n"),
  run: async (argv) => {
    const { values } = parseFlags("health", argv, { ...serverFlag, service: { type: "string" }, timeout: { type: "string" }, json: { type: "boolean" } });
    const reader = new FlagReader("health");
    const timeoutMs = reader.integer("timeout", values.timeout) ?? 2_000;
    if (timeoutMs < 1) reader.fail("timeout", values.timeout!, "a whole number of milliseconds of at least 1");
    const address = serverAddress(values.server);
    const result = await probeHealth(address, { service: values.service ?? "", timeoutMs, tls: clientAccess("health", values).tls });
    if (values.json) process.stdout.write(`${JSON.stringify({ server: address, service: values.service ?? "", serving: result.serving, status: result.detail })}\n`);
    else process.stdout.write(`${address}: ${result.detail}\n`);
    return result.serving ? 0 : 1;
  },
};
