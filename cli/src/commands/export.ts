import { writeFileSync } from "node:fs";
import { decodeCheckpoint, saveNetworkJson, type Network } from "@mnist/core";
import { NetworkChoice } from "@mnist/protocol";
import type { Command } from "../command.js";
import type { ConnectionFlags } from "../access.js";
import { serverFlag, withRunService } from "../cluster.js";
import { UsageError } from "../errors.js";
import { parseFlags } from "../flags.js";

/** A run's network from the evaluator: the best epoch on validation data, or the last. */
export async function fetchRunNetwork(command: string, server: string | undefined | ConnectionFlags, runId: string, last = false): Promise<{ network: Network; epoch: number }> {
  return withRunService(command, server, async (client) => {
    const response = await client.getNetwork({ runId, choice: last ? NetworkChoice.LAST : NetworkChoice.BEST });
    return { network: decodeCheckpoint(response.network, `run ${runId}`).network, epoch: response.epoch };
  });
}

export const exportCommand: Command = {
  name: "export",
  summary: "write a run's best network in the chapter's JSON format",
  usage: "mnistctl export ID --out model.json [--last] [--server HOST:PORT]\n\n--last: the last epoch's network instead of the best on validation data",
  run: async (argv) => {
    const { values, positionals } = parseFlags("export", argv, { ...serverFlag, out: { type: "string" }, last: { type: "boolean" } }, true);
    if (positionals.length !== 1) throw new UsageError(`mnistctl export: expected one run id, got ${positionals.length} arguments`);
    if (!values.out) throw new UsageError("mnistctl export: --out FILE is required (the network in the chapter's JSON format)");
    const { network, epoch } = await fetchRunNetwork("export", values, positionals[0]!, values.last);
    writeFileSync(values.out, saveNetworkJson(network));
    process.stdout.write(`run ${positionals[0]} epoch ${epoch} written to ${values.out}\n`);
    return 0;
  },
};
