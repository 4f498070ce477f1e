import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, extname } from "node:path";
import type { Command } from "../command.js";
import { asUsageError, UsageError } from "../errors.js";
import { FlagReader, parseFlags } from "../flags.js";
import { learningCurvesSvg, PlotInputError, plotDefaults, renderLearningCurves, type EpochRecord, type PlotOptions } from "../plot.js";

const usage = [
  "mnistctl plot --log FILE --out curves.png [--title TEXT] [--width PX] [--height PX]",
  "",
  "Draws learning curves like the chapter's figures: cost and accuracy per epoch on the training",
  "and the evaluation data, with dashed lines where the learning rate η changed.",
  "  --log FILE   JSON lines as printed by mnistctl train --json (the lines with msg \"epoch\")",
  "  --out FILE   .png, or .svg for the vector drawing itself",
  "  --title      defaults to the run id in the log, else the log's file name",
  "plot ID (a cluster run's records) arrives with the cluster commands.",
].join("\n");

const metricFields = ["trainCost", "trainAccuracy", "evalCost", "evalAccuracy", "valCost", "valAccuracy", "testAccuracy"] as const;

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
    for (const field of metricFields) if (fields[field] !== undefined) (record as unknown as Record<string, unknown>)[field] = fields[field];
    records.push(record);
    if (run === undefined && (typeof fields.run === "string" || typeof fields.run === "number")) run = String(fields.run);
  });
  if (records.length === 0) throw new UsageError(`mnistctl plot: ${source} has no epoch lines (msg "epoch"); write it with mnistctl train --json > ${source}`);
  return run === undefined ? { records } : { records, run };
}

/**
 * Writes records from any source (a log today, a cluster run later) as .png or .svg; the one place
 * that turns a bad record into the command's usage error.
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

/** node's message for EISDIR and the like leaves out the path; the user needs to know which file. */
function readText(command: string, flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`mnistctl ${command}: --${flag} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function plotLog(argv: string[]): Promise<number> {
  const name = "plot";
  const { values, positionals } = parseFlags(
    name,
    argv,
    { log: { type: "string" }, out: { type: "string" }, title: { type: "string" }, width: { type: "string" }, height: { type: "string" } },
    true,
  );
  const reader = new FlagReader(name);
  if (positionals.length > 0) throw new UsageError(`mnistctl ${name}: plot ID needs the cluster commands; use --log FILE`);
  if (!values.log) throw new UsageError(`mnistctl ${name}: --log FILE is required (JSON lines from mnistctl train --json)`);
  if (!values.out) throw new UsageError(`mnistctl ${name}: --out FILE is required (.png or .svg)`);
  if (![".png", ".svg"].includes(extname(values.out).toLowerCase())) reader.fail("out", values.out, "a file name ending in .png or .svg");
  if (!existsSync(dirname(values.out))) throw new UsageError(`mnistctl ${name}: --out ${JSON.stringify(values.out)}: directory ${dirname(values.out)} does not exist`);
  const width = reader.integer("width", values.width) ?? plotDefaults.width;
  const height = reader.integer("height", values.height) ?? plotDefaults.height;

  const log = epochRecordsFromLog(readText(name, "log", values.log), values.log);
  const title = values.title ?? (log.run === undefined ? basename(values.log) : `run ${log.run}`);
  await plotRecords(log.records, values.out, { title, width, height });
  process.stdout.write(`wrote ${values.out}: ${log.records.length} epoch${log.records.length === 1 ? "" : "s"} (${width}×${height})\n`);
  return 0;
}

export const plotCommand: Command = {
  name: "plot",
  summary: "draw learning curves (cost and accuracy per epoch) to PNG or SVG",
  usage,
  run: async (argv) => {
    try {
      return await plotLog(argv);
    } catch (error) {
      throw asUsageError("plot", error);
    }
  },
};
