import { existsSync, writeFileSync } from "node:fs";
import { basename, dirname, extname } from "node:path";
import type { Command } from "../command.js";
import type { ConnectionFlags } from "../access.js";
import { serverFlag, withRunService } from "../cluster.js";
import { readInputFile, UsageError } from "../errors.js";
import { FlagReader, parseFlags } from "../flags.js";
import { learningCurvesSvg, PlotInputError, plotDefaults, renderLearningCurves, type EpochRecord, type PlotOptions } from "../plot.js";

const usage = [
  "mnistctl plot ID --out curves.png [--title TEXT] [--width PX] [--height PX] [--server HOST:PORT]",
  "       mnistctl plot --log FILE --out curves.png [...]",
  "",
  "Draws learning curves like the chapter's figures: cost and accuracy per epoch on the training",
  "and the evaluation data, with dashed lines where the learning rate η changed.",
  "  --log FILE   JSON lines as printed by mnistctl train --json (the lines with msg \"epoch\")",
  "  --out FILE   .png, or .svg for the vector drawing itself",
  "  --title      defaults to the run id in the log, else the log's file name",
  "  ID           a cluster run: its validation (and, when monitored, training and test) figures\n",].join("\n");

const metricFields = ["trainCost", "trainAccuracy", "valCost", "valAccuracy", "testAccuracy"] as const;
/** Logs written before the epoch fields had one set of names called the evaluation set's figures these. */
const legacyFields: Record<string, (typeof metricFields)[number]> = { evalCost: "valCost", evalAccuracy: "valAccuracy" };

export interface EpochLog {
  records: EpochRecord[];
  /** The run id the lines carry, when they carry one. */
  run?: string;
}

/**
 * The epoch records in a pino JSON-lines log (mnistctl train --json, or a service's log): lines
 * with msg "epoch"; every other line is skipped. Values are passed on as found: the plot checks them.
 */
export function epochRecordsFromLog(text: string, source: string): EpochLog {
  const records: EpochRecord[] = [];
  let run: string | undefined;
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      throw new UsageError(`mnistctl plot: ${source} line ${index + 1} is not JSON (write the log with mnistctl train --json)`);
    }
    if (typeof entry !== "object" || entry === null || (entry as { msg?: unknown }).msg !== "epoch") return;
    const fields = entry as Record<string, unknown>;
    const record = { epoch: fields.epoch, eta: fields.eta } as EpochRecord;
    for (const [legacy, field] of Object.entries(legacyFields)) if (fields[field] === undefined && fields[legacy] !== undefined) fields[field] = fields[legacy];
    for (const field of metricFields) if (fields[field] !== undefined) (record as unknown as Record<string, unknown>)[field] = fields[field];
    records.push(record);
    if (run === undefined && (typeof fields.run === "string" || typeof fields.run === "number")) run = String(fields.run);
  });
  if (records.length === 0) throw new UsageError(`mnistctl plot: ${source} has no epoch lines (msg "epoch"); write it with mnistctl train --json > ${source}`);
  return run === undefined ? { records } : { records, run };
}

/**
 * Writes records from either source (a JSON-lines log, or a cluster run's record) as .png or
 * .svg; the one place that turns a bad record into the command's usage error.
 */
export async function plotRecords(records: EpochRecord[], out: string, options: PlotOptions): Promise<void> {
  try {
    if (extname(out).toLowerCase() === ".svg") writeFileSync(out, learningCurvesSvg(records, options));
    else await renderLearningCurves(records, out, options);
  } catch (error) {
    if (error instanceof PlotInputError) throw new UsageError(`mnistctl plot: ${error.message}`);
    throw error;
  }
}

/** A cluster run's epochs as plot records. */
async function runRecords(runId: string, server: ConnectionFlags): Promise<EpochLog> {
  const run = await withRunService("plot", server, async (client) => (await client.getRun({ runId })).run);
  if (!run || run.epochs.length === 0) throw new UsageError(`mnistctl plot: run ${runId} has no epochs yet`);
  const records = run.epochs.map((metrics) => {
    const record = { epoch: metrics.epoch, eta: metrics.eta } as EpochRecord;
    for (const field of metricFields) if (field in metrics && metrics[field as keyof typeof metrics] !== undefined) (record as unknown as Record<string, unknown>)[field] = metrics[field as keyof typeof metrics];
    return record;
  });
  return { records, run: run.spec?.name ? `${runId} (${run.spec.name})` : runId };
}

async function plotLog(argv: string[]): Promise<number> {
  const name = "plot";
  const { values, positionals } = parseFlags(
    name,
    argv,
    { log: { type: "string" }, out: { type: "string" }, title: { type: "string" }, width: { type: "string" }, height: { type: "string" }, ...serverFlag },
    true,
  );
  const reader = new FlagReader(name);
  if (positionals.length > 1) throw new UsageError(`mnistctl ${name}: expected one run id, got ${positionals.length} arguments`);
  if ((positionals.length === 1) === (values.log !== undefined)) {
    throw new UsageError(`mnistctl ${name}: one of ID (a cluster run) or --log FILE (JSON lines from mnistctl train --json) is required`);
  }
  if (!values.out) throw new UsageError(`mnistctl ${name}: --out FILE is required (.png or .svg)`);
  if (![".png", ".svg"].includes(extname(values.out).toLowerCase())) reader.fail("out", values.out, "a file name ending in .png or .svg");
  if (!existsSync(dirname(values.out))) throw new UsageError(`mnistctl ${name}: --out ${JSON.stringify(values.out)}: directory ${dirname(values.out)} does not exist`);
  const width = reader.integer("width", values.width) ?? plotDefaults.width;
  const height = reader.integer("height", values.height) ?? plotDefaults.height;

  const log = values.log !== undefined ? epochRecordsFromLog(readInputFile(name, "log", values.log), values.log) : await runRecords(positionals[0]!, values);
  const title = values.title ?? (log.run === undefined ? basename(values.log!) : `run ${log.run}`);
  await plotRecords(log.records, values.out, { title, width, height });
  process.stdout.write(`wrote ${values.out}: ${log.records.length} epoch${log.records.length === 1 ? "" : "s"} (${width}×${height})\n`);
  return 0;
}

export const plotCommand: Command = {
  name: "plot",
  summary: "draw learning curves (cost and accuracy per epoch) to PNG or SVG",
  usage,
  run: plotLog,
};
