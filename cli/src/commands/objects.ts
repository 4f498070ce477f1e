// Runs as Kubernetes-style objects: `get runs|run NAME -o wide|json|yaml`, `describe run NAME`,
// `delete run NAME`, `logs NAME [-f]`. A TrainingRun's spec is the run spec in camelCase with
// enums by name; its status is what the evaluator recorded.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { RunSpecSchema, toNamedJson, type RunRecord } from "@mnist/protocol";
import { isTerminal, resolveRunSpec } from "@mnist/spec";
import { stringify } from "yaml";
import type { Command } from "../command.js";
import { EpochPrinter, epochFields, follow, serverFlag, stateName, summary, withRunService } from "../cluster.js";
import { UsageError } from "../errors.js";
import { FlagReader, parseFlags } from "../flags.js";
import { formatTable, percent } from "../table.js";
import { allRuns, eventsTable, listFlags, recordJson, runsTable } from "./runs.js";

export const apiVersion = "mnist-pipeline/v1";
const outputs = ["table", "wide", "json", "yaml"] as const;
type Output = (typeof outputs)[number];

/** A run as `kubectl get -o yaml` shows an object: apiVersion, kind, metadata, spec, status. */
export function trainingRun(run: RunRecord): JsonObject {
  const { runId: _id, spec: _spec, createdAt: _created, ...status } = recordJson(run) as JsonObject;
  const spec = (run.spec ? toNamedJson(RunSpecSchema, run.spec) : {}) as JsonObject;
  const { name, ...specFields } = spec;
  return {
    apiVersion,
    kind: "TrainingRun",
    metadata: { name: (name as string) || run.runId, uid: run.runId, ...(run.createdAt ? { creationTimestamp: timestampDate(run.createdAt).toISOString() } : {}) },
    spec: specFields,
    status,
  };
}

function print(output: Output, value: JsonValue): void {
  process.stdout.write(output === "yaml" ? stringify(value, { lineWidth: 0 }) : `${JSON.stringify(value, null, 2)}\n`);
}

/** The one run a verb acts on (`run NAME` or NAME); `runs` is refused with `example`. */
function oneRun(command: string, positionals: string[], example: string): string {
  const what = target(command, positionals);
  if (what.kind === "runs") throw new UsageError(`mnistctl ${command}: ${example}`);
  return what.name;
}

/** `run NAME`, `runs`, or a bare NAME: what kubectl-style verbs take. */
function target(command: string, positionals: string[]): { kind: "runs" } | { kind: "run"; name: string } {
  const [first, second, ...rest] = positionals;
  if (rest.length > 0 || first === undefined) throw new UsageError(`mnistctl ${command}: expected runs, run NAME or NAME (a run's id or name), got ${positionals.length} arguments`);
  if (first === "runs" && second === undefined) return { kind: "runs" };
  if (first === "run" || first === "runs") {
    if (second === undefined) throw new UsageError(`mnistctl ${command}: expected a run's id or name after "${first}"`);
    return { kind: "run", name: second };
  }
  if (second !== undefined) throw new UsageError(`mnistctl ${command}: expected runs, run NAME or NAME, got ${positionals.join(" ")}`);
  return { kind: "run", name: first };
}

/** The wide table: the plain one's columns and where each run is, how far it has come, and when it began. */
function wideTable(runs: RunRecord[]): string {
  return formatTable(
    ["run", "name", "state", "network", "epochs", "best val", "test", "eta", "trainer", "sweep", "created", "stop reason"],
    runs.map((run) => {
      const spec = run.spec ? resolveRunSpec(run.spec) : undefined;
      return [
        run.runId,
        run.spec?.name ?? "",
        `${stateName[run.state]}${run.paused && !isTerminal(run.state) ? " (paused)" : ""}`,
        spec ? `[${spec.sizes.join(",")}]` : "",
        `${run.epochs.length}/${spec?.epochs ?? "?"}`,
        percent(run.epochs.length ? run.bestValAccuracy : undefined),
        percent(run.testAccuracy),
        Number(run.eta.toPrecision(6)),
        run.trainerId,
        run.sweepId,
        run.createdAt ? timestampDate(run.createdAt).toISOString().replace(/\.\d+Z$/, "Z") : "",
        run.stopReason || run.error,
      ];
    }),
  );
}


export const getCommand: Command = {
  name: "get",
  summary: "show runs or one run (-o wide|json|yaml); get ID shows its epochs and audit trail",
  usage: "mnistctl get runs [-o|--output wide|json|yaml] [--limit N] [--state S]  |  mnistctl get [run] ID|NAME [-o|--output wide|json|yaml] [--json] [--server HOST:PORT]",
  run: async (argv) => {
    const { values, positionals } = parseFlags(
      "get",
      argv,
      { ...serverFlag, json: { type: "boolean" }, output: { type: "string", short: "o" }, limit: { type: "string" }, state: { type: "string" } },
      true,
    );
    const reader = new FlagReader("get");
    const output: Output = values.json ? "json" : (reader.choice("output", values.output, outputs) ?? "table");
    const what = target("get", positionals);
    return withRunService("get", values, async (client) => {
      if (what.kind === "runs") {
        const { limit, state } = listFlags(reader, values.limit, values.state);
        const runs = await allRuns(client, limit, { state });
        if (output === "json" || output === "yaml") print(output, { apiVersion, kind: "TrainingRunList", items: runs.map(trainingRun) });
        else process.stdout.write(runs.length === 0 ? "no runs\n" : `${output === "wide" ? wideTable(runs) : runsTable(runs)}\n`);
        return 0;
      }
      const { run } = await client.getRun({ runId: what.name });
      if (!run) throw new UsageError(`mnistctl get: run ${what.name} not found`);
      // --json keeps its meaning from before -o: the record itself, on one line.
      if (values.json) process.stdout.write(`${JSON.stringify(recordJson(run))}\n`);
      else if (output === "json" || output === "yaml") print(output, trainingRun(run));
      else if (output === "wide") process.stdout.write(`${wideTable([run])}\n`);
      else {
        process.stdout.write(`${runsTable([run])}\n\n`);
        const printer = new EpochPrinter(false, run.runId);
        for (const epoch of run.epochs) printer.epoch(epoch);
        process.stdout.write(`${summary(run)}\n`);
        if (run.events.length > 0) process.stdout.write(`\naudit trail:\n${eventsTable(run.events)}\n`);
      }
      return 0;
    });
  },
};

export const describeCommand: Command = {
  name: "describe",
  summary: "a run's spec, status and events, as kubectl describe shows an object",
  usage: "mnistctl describe [run] ID|NAME [--server HOST:PORT]",
  run: async (argv) => {
    const { values, positionals } = parseFlags("describe", argv, serverFlag, true);
    const name = oneRun("describe", positionals, "describes one run: mnistctl describe run NAME");
    return withRunService("describe", values, async (client) => {
      const { run } = await client.getRun({ runId: name });
      const object = trainingRun(run!);
      const { events: _events, epochs, ...status } = object.status as JsonObject;
      const lines = [
        `Name:         ${(object.metadata as JsonObject).name}`,
        `UID:          ${run!.runId}`,
        `Created:      ${(object.metadata as JsonObject).creationTimestamp ?? ""}`,
        `State:        ${stateName[run!.state]}${run!.paused ? " (paused)" : ""}`,
        "Spec:",
        indent(stringify(object.spec, { lineWidth: 0 })),
        "Status:",
        indent(stringify({ ...status, epochs: (epochs as JsonValue[]).length }, { lineWidth: 0 })),
        "Events:",
        run!.events.length > 0 ? indent(eventsTable(run!.events)) : "  <none>",
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      return 0;
    });
  },
};

function indent(text: string): string {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}

export const deleteCommand: Command = {
  name: "delete",
  summary: "stop a run if it is active, then remove its record and checkpoints",
  usage: "mnistctl delete [run] ID|NAME [--server HOST:PORT]",
  run: async (argv) => {
    const { values, positionals } = parseFlags("delete", argv, serverFlag, true);
    const name = oneRun("delete", positionals, "deletes one run at a time: mnistctl delete run NAME");
    return withRunService("delete", values, async (client) => {
      const { runId, checkpointsDeleted } = await client.deleteRun({ runId: name });
      process.stdout.write(`run ${runId}${name !== runId ? ` (${name})` : ""} deleted, with ${checkpointsDeleted} checkpoint object${checkpointsDeleted === 1 ? "" : "s"}\n`);
      return 0;
    });
  },
};

export const logsCommand: Command = {
  name: "logs",
  summary: "a run's epoch lines (JSON, as the evaluator logs them); -f follows until it ends",
  usage: "mnistctl logs ID|NAME [-f|--follow] [--server HOST:PORT]",
  run: async (argv) => {
    const { values, positionals } = parseFlags("logs", argv, { ...serverFlag, follow: { type: "boolean", short: "f" } }, true);
    const name = oneRun("logs", positionals, "shows one run's lines: mnistctl logs NAME");
    return withRunService("logs", values, async (client) => {
      const { run } = await client.getRun({ runId: name });
      if (values.follow) {
        await follow(client, run!.runId, new EpochPrinter(true, run!.runId));
        return 0;
      }
      for (const epoch of run!.epochs) process.stdout.write(`${JSON.stringify({ msg: "epoch", run: run!.runId, ...epochFields(epoch) })}\n`);
      return 0;
    });
  },
};
