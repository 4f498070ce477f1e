import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { InvalidArgument } from "@mnist/errors";
import { Decision, type ReplayedEpoch, type UpdateRunResponse } from "@mnist/protocol";
import { resolveRunSpec } from "@mnist/spec";
import type { Command } from "../command.js";
import { decisionLabel, serverFlag, withRunService } from "../cluster.js";
import { UsageError } from "../errors.js";
import { parseFlags } from "../flags.js";
import { flagForField, runSpecFromFlags, type SpecFlagValues } from "../spec-flags.js";
import { formatTable } from "../table.js";
import { recordJson } from "./runs.js";

/** What `set` can change, by the name of the flag that sets it at launch, and its UpdateRun path. */
const settable = {
  eta: "eta",
  "early-stop": "stopping.early_stop_patience",
  "decay-after": "stopping.decay_after",
  "decay-factor": "stopping.decay_factor",
  "min-eta-fraction": "stopping.min_eta_fraction",
  "min-eta": "stopping.min_eta",
  metric: "stopping.metric",
  "min-delta": "stopping.min_delta",
  cooldown: "stopping.cooldown",
  "start-from-epoch": "stopping.start_from_epoch",
  "restore-best-on-decay": "stopping.restore_best_on_decay",
} as const satisfies Partial<Record<keyof SpecFlagValues, string>>;
type SettableKey = keyof typeof settable;
const settableKeys = Object.keys(settable) as SettableKey[];

const usage = [
  "mnistctl set ID KEY=VALUE... [--dry-run] [--reason TEXT] [--json] [--server HOST:PORT]",
  "",
  "Changes a run's stopping rules and learning rate from its next epoch decision on (eta from the",
  "epoch after the one in training). KEY is the flag that sets it at launch, without the dashes:",
  `  ${settableKeys.join(", ")}`,
  "  (restore-best-on-decay=true|false). Each change goes into the run's audit trail (mnistctl get).",
  "--dry-run replays the run's recorded epochs through the changed rules and prints what they would",
  "have decided, changing nothing; it works on finished runs too.",
].join("\n");

/** KEY=VALUE arguments as the spec flags they stand for. */
function parseAssignments(assignments: string[]): { values: SpecFlagValues; keys: SettableKey[] } {
  const values: Record<string, string | boolean> = {};
  const keys: SettableKey[] = [];
  for (const assignment of assignments) {
    const match = /^([a-z-]+)=(.*)$/.exec(assignment);
    const key = match?.[1] as SettableKey | undefined;
    if (!match || !key || !settableKeys.includes(key)) {
      throw new UsageError(`mnistctl set: ${JSON.stringify(assignment)} is not KEY=VALUE with KEY one of ${settableKeys.join(", ")}`);
    }
    if (keys.includes(key)) throw new UsageError(`mnistctl set: ${key} is given twice`);
    const raw = match[2]!;
    if (key === "restore-best-on-decay") {
      if (raw !== "true" && raw !== "false") throw new UsageError(`mnistctl set: restore-best-on-decay is ${JSON.stringify(raw)}; allowed: true or false`);
      values[key] = raw === "true";
    } else values[key] = raw;
    keys.push(key);
  }
  return { values: values as SpecFlagValues, keys };
}

function replayTable(replay: ReplayedEpoch[]): string {
  const label = (decision: Decision, restoreEpoch?: number) => `${decisionLabel[decision]}${restoreEpoch === undefined ? "" : `, from ${restoreEpoch}`}`;
  return formatTable(
    ["epoch", "recorded", "would decide", "eta after", "reason"],
    replay.map((epoch) => [epoch.epoch, decisionLabel[epoch.recorded] || "-", label(epoch.replayed, epoch.restoreEpoch), Number(epoch.eta.toPrecision(6)), epoch.reason]),
  );
}

function replaySummary(response: UpdateRunResponse): string {
  const run = response.run!;
  const last = response.replay.at(-1);
  if (!last) return `run ${run.runId} has no recorded epoch to replay`;
  if (last.replayed === Decision.STOP) return `the changed rules would have stopped run ${run.runId} after epoch ${last.epoch} (${last.reason}); it trained ${run.epochs.length} epochs`;
  return `the changed rules would not have stopped run ${run.runId} in its ${run.epochs.length} recorded epochs`;
}

export const setCommand: Command = {
  name: "set",
  summary: "change a running run's stopping rules and eta, or replay them (--dry-run)",
  usage,
  run: async (argv) => {
    const { values: flags, positionals } = parseFlags("set", argv, { ...serverFlag, "dry-run": { type: "boolean" }, reason: { type: "string" }, json: { type: "boolean" } }, true);
    const [runId, ...assignments] = positionals;
    if (runId === undefined || assignments.length === 0) throw new UsageError(`mnistctl set: expected a run id and one or more KEY=VALUE, got ${positionals.length} arguments`);
    const { values, keys } = parseAssignments(assignments);
    const spec = runSpecFromFlags("set", values);
    try {
      // Each value checked as at launch, here first (the evaluator checks the rules it ends up with).
      resolveRunSpec(spec);
    } catch (error) {
      if (!(error instanceof InvalidArgument)) throw error;
      throw new UsageError(`mnistctl set: ${flagForField(error.field)}: ${error.message}`);
    }
    const request = {
      runId,
      stopping: spec.stopping,
      eta: spec.eta ?? 0,
      updateMask: create(FieldMaskSchema, { paths: keys.map((key) => settable[key]) }),
      dryRun: flags["dry-run"] ?? false,
      reason: flags.reason ?? "",
    };
    return withRunService("set", flags, async (client) => {
      const response = await client.updateRun(request);
      const run = response.run!;
      if (flags.json) {
        const replay = response.replay.map((epoch) => ({ ...epoch, $typeName: undefined, recorded: decisionLabel[epoch.recorded], replayed: decisionLabel[epoch.replayed] }));
        process.stdout.write(`${JSON.stringify(request.dryRun ? { run: runId, replay } : recordJson(run))}\n`);
      } else if (request.dryRun) {
        if (response.replay.length > 0) process.stdout.write(`${replayTable(response.replay)}\n`);
        process.stdout.write(`${replaySummary(response)}\n`);
      } else {
        const change = run.events.at(-1)!;
        const etaFrom = keys.includes("eta") ? `; eta from epoch ${run.etaHistory.at(-1)?.epoch ?? 0}` : "";
        process.stdout.write(`run ${runId}: ${change.detail}, from the decision on epoch ${change.epoch}${etaFrom}\n`);
      }
      return 0;
    });
  },
};
