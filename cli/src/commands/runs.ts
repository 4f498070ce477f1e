import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { JsonValue } from "@bufbuild/protobuf";
import type { Client } from "@mnist/grpc";
import { enumValueName, RunEventKind, RunRecordSchema, RunService, RunState, RunStateSchema, toNamedJson, type RunEvent, type RunRecord } from "@mnist/protocol";
import { checkEta, isTerminal, resolveRunSpec, trainingExtras } from "@mnist/spec";
import type { Command } from "../command.js";
import { EpochPrinter, follow, finishedFields, serverFlag, stateName, summary, withRunService } from "../cluster.js";
import { asUsageError, UsageError } from "../errors.js";
import { FlagReader, parseFlags } from "../flags.js";
import { duration, formatTable, percent } from "../table.js";

function oneId(command: string, positionals: string[], extra = ""): string {
  if (positionals.length !== 1) throw new UsageError(`mnistctl ${command}: expected one run id or name${extra}, got ${positionals.length} arguments`);
  return positionals[0]!;
}

/** A run record as JSON: protobuf's canonical JSON, every field present, enums by their short names ("state": "finished"). */
export function recordJson(run: RunRecord): JsonValue {
  return toNamedJson(RunRecordSchema, run);
}

/** The network and its training in a few words, with what network2 would not do named ("relu", "momentum 0.9", …). */
function describe(run: RunRecord): string {
  if (!run.spec) return "";
  const spec = resolveRunSpec(run.spec);
  return [`[${spec.sizes.join(",")}]`, `eta ${spec.eta} lambda ${spec.lambda} mb ${spec.miniBatch}`, ...trainingExtras(spec)].join(" ");
}

/** A running run's epoch in training: "epoch 12 40%, 3 s left; cap in 25 min". */
export function progressText(run: RunRecord): string {
  const progress = run.progress;
  if (!progress || isTerminal(run.state)) return "";
  return `epoch ${progress.epoch} ${Math.round(progress.epochShare * 100)}%, ${duration(progress.epochSecondsLeft)} left; cap in ${duration(progress.capSecondsLeft)}`;
}

export function runsTable(runs: RunRecord[]): string {
  const anyProgress = runs.some((run) => progressText(run) !== "");
  return formatTable(
    ["run", "name", "state", "network", "epochs", "best val", "test", "eta", ...(anyProgress ? ["in training"] : []), "stop reason"],
    runs.map((run) => [
      run.runId,
      run.spec?.name ?? "",
      `${stateName[run.state]}${run.paused && !isTerminal(run.state) ? " (paused)" : ""}`,
      describe(run),
      run.epochs.length,
      percent(run.epochs.length ? run.bestValAccuracy : undefined),
      percent(run.testAccuracy),
      Number(run.eta.toPrecision(6)),
      ...(anyProgress ? [progressText(run)] : []),
      run.stopReason || run.error,
    ]),
  );
}

/** An event's kind as the table shows it: RUN_EVENT_KIND_DECAY is "decay". */
const eventName = (kind: RunEventKind) => (RunEventKind[kind] ?? "?").toLowerCase();

/** The audit trail as a table; a stretch of plain continue decisions is one row ("epochs 3-9"). */
export function eventsTable(events: RunEvent[]): string {
  const rows: (string | number)[][] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    let last = i;
    const plain = (candidate: RunEvent | undefined) => candidate?.kind === RunEventKind.CONTINUE && candidate.reason === "" && candidate.actor === event.actor;
    if (plain(event)) while (plain(events[last + 1])) last++;
    const epochs = last > i ? `${event.epoch}-${events[last]!.epoch}` : String(event.epoch);
    const time = event.time ? timestampDate(event.time).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
    rows.push([time, epochs, eventName(event.kind), event.actor, event.reason, event.detail]);
    i = last;
  }
  return formatTable(["time", "epoch", "event", "by", "reason", "detail"], rows);
}

/** --state's values: each run state by its JSON name ("finished"), in the protocol's order. */
const stateByName: Record<string, RunState> = Object.fromEntries(
  RunStateSchema.values.filter((value) => value.number !== RunState.UNSPECIFIED).map((value) => [enumValueName(RunStateSchema, value.number), value.number as RunState]),
);

/** --limit and --state, as `list` and `get runs` take them: how many runs at most, and in which state (unspecified: any). */
export function listFlags(reader: FlagReader, limitRaw: string | undefined, stateRaw: string | undefined): { limit: number | undefined; state: RunState } {
  const limit = reader.integer("limit", limitRaw);
  if (limit !== undefined && limit < 1) reader.fail("limit", limitRaw!, "a whole number of runs, 1 or more");
  const state = stateRaw === undefined ? RunState.UNSPECIFIED : stateByName[stateRaw];
  if (state === undefined) reader.fail("state", stateRaw!, Object.keys(stateByName).join(", "));
  return { limit, state };
}

/** ListRuns page by page (at most 1,000 a page) until `limit` runs, or all of them; newest first. */
export async function allRuns(client: Client<typeof RunService>, limit: number | undefined, filter: { state?: RunState; namePrefix?: string; sweepId?: string } = {}): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  let pageToken = "";
  do {
    const page = await client.listRuns({ ...filter, pageToken, pageSize: Math.min(1_000, limit === undefined ? 1_000 : limit - runs.length) });
    runs.push(...page.runs);
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && (limit === undefined || runs.length < limit));
  return runs;
}

export const listCommand: Command = {
  name: "list",
  summary: "list runs, newest first",
  usage: "mnistctl list [--limit N] [--state queued|running|finished|stopped|failed] [--name-prefix P] [--sweep ID] [--json] [--server HOST:PORT]",
  run: async (argv) => {
    const { values } = parseFlags("list", argv, {
      ...serverFlag,
      json: { type: "boolean" },
      limit: { type: "string" },
      state: { type: "string" },
      "name-prefix": { type: "string" },
      sweep: { type: "string" },
    });
    const { limit, state } = listFlags(new FlagReader("list"), values.limit, values.state);
    const filter = { state, namePrefix: values["name-prefix"] ?? "", sweepId: values.sweep ?? "" };
    return withRunService("list", values, async (client) => {
      const runs = await allRuns(client, limit, filter);
      if (values.json) for (const run of runs) process.stdout.write(`${JSON.stringify(recordJson(run))}\n`);
      else process.stdout.write(runs.length === 0 ? "no runs\n" : `${runsTable(runs)}\n`);
      return 0;
    });
  },
};

export const watchCommand: Command = {
  name: "watch",
  summary: "stream a run's epochs until it ends",
  usage: "mnistctl watch ID [--json] [--server HOST:PORT]",
  run: async (argv) => {
    const { values, positionals } = parseFlags("watch", argv, { ...serverFlag, json: { type: "boolean" } }, true);
    const runId = oneId("watch", positionals);
    return withRunService("watch", values, async (client) => {
      const finished = await follow(client, runId, new EpochPrinter(values.json ?? false, runId));
      return finished.state === RunState.FAILED ? 1 : 0;
    });
  },
};

export const stopCommand: Command = {
  name: "stop",
  summary: "stop a run",
  usage: "mnistctl stop ID [--reason TEXT] [--json] [--server HOST:PORT]",
  run: async (argv) => {
    const { values, positionals } = parseFlags("stop", argv, { ...serverFlag, reason: { type: "string" }, json: { type: "boolean" } }, true);
    const runId = oneId("stop", positionals);
    return withRunService("stop", values, async (client) => {
      const { run } = await client.stopRun({ runId, reason: values.reason ?? "" });
      if (values.json) process.stdout.write(`${JSON.stringify(finishedFields(run!))}\n`);
      else process.stdout.write(`${summary(run!)}\n`);
      return 0;
    });
  },
};

/** `mnistctl pause` and `mnistctl resume`: the same call but for its direction. */
function pauseCommand(name: "pause" | "resume"): Command {
  const pausing = name === "pause";
  return {
    name,
    summary: pausing ? "hold a run before its next epoch (the one in training finishes)" : "let a paused run go on",
    usage: `mnistctl ${name} ID|NAME [--reason TEXT] [--json] [--server HOST:PORT]`,
    run: async (argv) => {
      const { values, positionals } = parseFlags(name, argv, { ...serverFlag, reason: { type: "string" }, json: { type: "boolean" } }, true);
      const runId = oneId(name, positionals);
      return withRunService(name, values, async (client) => {
        const request = { runId, reason: values.reason ?? "" };
        const { run } = pausing ? await client.pauseRun(request) : await client.resumeRun(request);
        if (values.json) process.stdout.write(`${JSON.stringify(recordJson(run!))}\n`);
        else process.stdout.write(`run ${run!.runId}${run!.spec?.name ? ` (${run!.spec.name})` : ""} ${pausing ? "paused: it holds before its next epoch" : "resumed"} after ${run!.epochs.length} epochs\n`);
        return 0;
      });
    },
  };
}

export const pauseRunCommand = pauseCommand("pause");
export const resumeRunCommand = pauseCommand("resume");

export const setLearningRateCommand: Command = {
  name: "set-lr",
  summary: "set a run's learning rate (as mnistctl set ID eta=ETA)",
  usage: "mnistctl set-lr ID ETA [--server HOST:PORT]",
  run: async (argv) => {
    const { values, positionals } = parseFlags("set-lr", argv, serverFlag, true);
    if (positionals.length !== 2) throw new UsageError(`mnistctl set-lr: expected a run id and a learning rate, got ${positionals.length} arguments`);
    const [runId, raw] = positionals as [string, string];
    const eta = new FlagReader("set-lr").number("eta", raw)!;
    try {
      checkEta("eta", eta);
    } catch (error) {
      throw asUsageError("set-lr", error);
    }
    return withRunService("set-lr", values, async (client) => {
      const { run } = await client.setLearningRate({ runId, eta });
      process.stdout.write(`run ${runId}: eta ${eta} from epoch ${run!.etaHistory.at(-1)?.epoch ?? 0}\n`);
      return 0;
    });
  },
};
