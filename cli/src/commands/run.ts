import type { Command } from "../command.js";
import { EpochPrinter, follow, serverFlag, stateName, withRunService } from "../cluster.js";
import { parseFlags } from "../flags.js";
import { resolveFlagsSpec, runSpecFromFlags, specFlags, specFlagsHelp } from "../spec-flags.js";

const usage = [
  "mnistctl run [flags] [--follow] [--json] [--server HOST:PORT]",
  "",
  specFlagsHelp,
  "Launches the run on the cluster and prints its id; --follow then streams its epochs until it",
  "ends. The evaluator steers on validation accuracy (--early-stop, --decay-after).",
].join("\n");

export const runCommand: Command = {
  name: "run",
  summary: "launch a run on the cluster (prints its id; --follow streams its epochs)",
  usage,
  run: async (argv) => {
    const name = "run";
    const { values } = parseFlags(name, argv, { ...specFlags, ...serverFlag, follow: { type: "boolean" }, json: { type: "boolean" } });
    const spec = runSpecFromFlags(name, values);
    resolveFlagsSpec(name, spec); // the same checks as the evaluator's, before the network round trip
    return withRunService(name, values, async (client) => {
      const { runId, state } = await client.launchRun({ spec });
      if (values.json) process.stdout.write(`${JSON.stringify({ msg: "run launched", run: runId, state: stateName[state] })}\n`);
      else process.stdout.write(`${runId}\n`);
      if (!values.follow) return 0;
      const finished = await follow(client, runId, new EpochPrinter(values.json ?? false, runId));
      return stateName[finished.state] === "failed" ? 1 : 0;
    });
  },
};
