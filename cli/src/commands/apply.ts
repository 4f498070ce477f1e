// mnistctl apply -f FILE: TrainingRun and Sweep documents (YAML or JSON, several per file,
// separated by ---), as kubectl applies objects: a new name launches, the same name with the same
// spec changes nothing, the same name with another spec is refused, naming the fields that differ.
import { readFileSync } from "node:fs";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { InvalidArgument } from "@mnist/errors";
import { GrpcStatusError, status, type Client } from "@mnist/grpc";
import { fromNamedJson, RunService, RunSpecSchema, SchedulerSpecSchema, type RunSpec } from "@mnist/protocol";
import { maxSweepTrials, resolveRunSpec, resolveScheduler } from "@mnist/spec";
import { parseAllDocuments } from "yaml";
import type { Command } from "../command.js";
import { serverFlag, withRunService } from "../cluster.js";
import { UsageError } from "../errors.js";
import { parseFlags } from "../flags.js";
import { apiVersion } from "./objects.js";

interface Applied {
  kind: "TrainingRun" | "Sweep";
  name: string;
  /** One spec for a TrainingRun; a Sweep's trials, named NAME-0, NAME-1, … */
  specs: RunSpec[];
  scheduler?: JsonValue;
  where: string;
}

const isObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/** A run spec from a document's JSON, checked by the same rules (and messages) as the flags' and LaunchRun's. */
function runSpecOf(json: JsonValue, name: string, field: string, where: string): RunSpec {
  let spec: RunSpec;
  try {
    spec = fromNamedJson(RunSpecSchema, json);
  } catch (error) {
    throw new UsageError(`mnistctl apply: ${where}: ${field}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (spec.name !== "" && spec.name !== name) throw new UsageError(`mnistctl apply: ${where}: ${field}.name is ${JSON.stringify(spec.name)}; a run is named by metadata.name (${JSON.stringify(name)})`);
  spec.name = name;
  try {
    resolveRunSpec(spec);
  } catch (error) {
    if (error instanceof InvalidArgument) throw new UsageError(`mnistctl apply: ${where}: ${error.within(`${field}.`).message}`);
    throw error;
  }
  return spec;
}

/** A Sweep's trials: the template with each combination of the parameters' values, in order. */
function trials(template: JsonObject, parameters: JsonObject, name: string, where: string): RunSpec[] {
  // Counted before anything is built: ten parameters of ten values would be 10^10 trials.
  let count = 1;
  for (const [field, values] of Object.entries(parameters)) {
    if (!Array.isArray(values) || values.length === 0) throw new UsageError(`mnistctl apply: ${where}: spec.parameters.${field} is ${JSON.stringify(values).slice(0, 200)}; a list of one or more values`);
    count *= values.length;
  }
  if (count > maxSweepTrials) {
    const lengths = Object.entries(parameters).map(([field, values]) => `${field} ${(values as unknown[]).length}`);
    throw new UsageError(`mnistctl apply: ${where}: spec.parameters make ${count.toLocaleString("en-US")} trials (${lengths.join(" × ")}); a sweep has at most ${maxSweepTrials}`);
  }
  let combinations: JsonObject[] = [{}];
  for (const [field, values] of Object.entries(parameters)) combinations = combinations.flatMap((combination) => (values as JsonValue[]).map((value) => ({ ...combination, [field]: value })));
  return combinations.map((combination, index) => runSpecOf({ ...template, ...combination }, `${name}-${index}`, `spec.template (trial ${index}: ${JSON.stringify(combination)})`, where));
}

function documents(file: string): Applied[] {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new UsageError(`mnistctl apply: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const applied: Applied[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    const where = `${file} document ${index + 1}`;
    if (document.errors.length > 0) throw new UsageError(`mnistctl apply: ${where}: ${document.errors[0]!.message.split("\n")[0]}`);
    const object = document.toJS() as unknown;
    if (object === null || object === undefined) return;
    if (!isObject(object)) throw new UsageError(`mnistctl apply: ${where}: expected an object with apiVersion, kind, metadata and spec`);
    if (object.apiVersion !== apiVersion) throw new UsageError(`mnistctl apply: ${where}: apiVersion is ${JSON.stringify(object.apiVersion)}; allowed: ${apiVersion}`);
    const kind = object.kind;
    if (kind !== "TrainingRun" && kind !== "Sweep") throw new UsageError(`mnistctl apply: ${where}: kind is ${JSON.stringify(kind)}; allowed: TrainingRun, Sweep`);
    const name = isObject(object.metadata) ? object.metadata.name : undefined;
    if (typeof name !== "string" || name === "") throw new UsageError(`mnistctl apply: ${where}: metadata.name is ${JSON.stringify(name)}; a run name, such as lr-0.5`);
    if (!isObject(object.spec)) throw new UsageError(`mnistctl apply: ${where} (${kind} ${name}): spec is ${JSON.stringify(object.spec)}; an object`);
    const at = `${where} (${kind} ${name})`;
    if (kind === "TrainingRun") {
      applied.push({ kind, name, specs: [runSpecOf(object.spec, name, "spec", at)], where: at });
      return;
    }
    const { template, parameters = {}, scheduler } = object.spec;
    if (!isObject(template)) throw new UsageError(`mnistctl apply: ${at}: spec.template is ${JSON.stringify(template)}; a run spec`);
    if (!isObject(parameters)) throw new UsageError(`mnistctl apply: ${at}: spec.parameters is ${JSON.stringify(parameters)}; an object of lists, such as {eta: [0.1, 0.5]}`);
    if (scheduler !== undefined) {
      try {
        resolveScheduler(fromNamedJson(SchedulerSpecSchema, scheduler));
      } catch (error) {
        throw new UsageError(`mnistctl apply: ${at}: spec.scheduler: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    applied.push({ kind, name, specs: trials(template, parameters, name, at), ...(scheduler === undefined ? {} : { scheduler }), where: at });
  });
  return applied;
}

/** The fields where two specs differ once every default is applied, as "field: old → new". */
export function specDifferences(existing: RunSpec, applied: RunSpec): string[] {
  const flat = (spec: RunSpec) => {
    const out = new Map<string, string>();
    const walk = (value: unknown, path: string) => {
      if (isObject(value as JsonValue)) for (const [key, inner] of Object.entries(value as object)) walk(inner, path ? `${path}.${key}` : key);
      else out.set(path, JSON.stringify(value, (_key, inner) => (typeof inner === "bigint" ? inner.toString() : inner)));
    };
    walk(resolveRunSpec(spec), "");
    return out;
  };
  const [before, after] = [flat(existing), flat(applied)];
  return [...new Set([...before.keys(), ...after.keys()])].filter((key) => before.get(key) !== after.get(key)).map((key) => `spec.${key}: ${before.get(key) ?? "(unset)"} → ${after.get(key) ?? "(unset)"}`);
}

async function existingSpec(client: Client<typeof RunService>, name: string): Promise<RunSpec | undefined> {
  try {
    return (await client.getRun({ runId: name })).run?.spec;
  } catch (error) {
    if (error instanceof GrpcStatusError && (error.code === status.NOT_FOUND || error.code === status.INVALID_ARGUMENT)) return undefined;
    throw error;
  }
}

export const applyCommand: Command = {
  name: "apply",
  summary: "launch the TrainingRuns and Sweeps of a YAML file (the same name and spec again: no change)",
  usage: [
    "mnistctl apply -f|--filename FILE|- [--server HOST:PORT]",
    "",
    "  apiVersion: mnist-pipeline/v1",
    "  kind: TrainingRun                  # or Sweep: spec.template (a run spec), spec.parameters",
    "  metadata: {name: wide}             #   (lists of values: every combination is a trial,",
    "  spec:                              #   named NAME-0, NAME-1, …), spec.scheduler",
    "    sizes: [784, 100, 10]            #   ({kind: asha, gracePeriod: 1, reductionFactor: 3})",
    "    lambda: 5",
    "    augment: {rotateProbability: 1, rotateDegrees: 15}",
    "    stopping: {decayAfter: 5, metric: eval-accuracy}",
    "  ---                                # more documents, more runs",
    "The spec's fields are the run spec's (mnistctl get run NAME -o yaml shows one), enums by name.",
  ].join("\n"),
  run: async (argv) => {
    const { values } = parseFlags("apply", argv, { ...serverFlag, filename: { type: "string", short: "f" } });
    if (values.filename === undefined) throw new UsageError("mnistctl apply: -f FILE is required (- reads standard input)");
    const applied = documents(values.filename);
    if (applied.length === 0) throw new UsageError(`mnistctl apply: ${values.filename} holds no document`);
    return withRunService("apply", values, async (client) => {
      for (const item of applied) {
        const label = `${item.kind.toLowerCase()}/${item.name}`;
        const known = await Promise.all(item.specs.map((spec) => existingSpec(client, spec.name)));
        if (known.some((spec) => spec !== undefined)) {
          const differences = item.specs.flatMap((spec, index) => (known[index] ? specDifferences(known[index]!, spec).map((line) => (item.specs.length > 1 ? `${spec.name}: ${line}` : line)) : [`${spec.name}: not launched`]));
          if (differences.length > 0) throw new UsageError(`mnistctl apply: ${label} exists with another spec (${item.where}): ${differences.join("; ")}`);
          process.stdout.write(`${label} unchanged\n`);
          continue;
        }
        if (item.kind === "TrainingRun") {
          const { runId } = await client.launchRun({ spec: item.specs[0]! });
          process.stdout.write(`${label} created (${runId})\n`);
        } else {
          const scheduler = item.scheduler === undefined ? undefined : fromNamedJson(SchedulerSpecSchema, item.scheduler);
          const { sweepId, runIds } = await client.launchSweep({ name: item.name, specs: item.specs, ...(scheduler ? { scheduler } : {}) });
          process.stdout.write(`${label} created (${sweepId}: ${runIds.length} trials, ${item.specs.map((spec) => spec.name).join(", ")})\n`);
        }
      }
      return 0;
    });
  },
};
