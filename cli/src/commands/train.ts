import { writeFileSync } from "node:fs";
import { checkFitsData, loadMnist, saveNetworkJson, setBlasThreads } from "@mnist/core";
import { createLogger } from "@mnist/runtime";
import { score, type ResolvedRunSpec } from "@mnist/spec";
import { trainLocally, type EpochReport } from "@mnist/training";
import type { Command } from "../command.js";
import { FlagReader, parseFlags } from "../flags.js";
import { resolveFlagsSpec, runSpecFromFlags, specFlags, specFlagsHelp } from "../spec-flags.js";
import { epochColumns, type EpochFigure } from "../epoch-table.js";
import { headerLine, percent, rowLine } from "../table.js";

const usage = [
  "mnistctl train [flags] [--data-dir DIR] [--save model.json] [--threads N] [--json]",
  "",
  specFlagsHelp,
  "output: a table per epoch, or with --json one pino line per epoch (msg \"epoch\") and a last",
  "  line msg \"run finished\"; --save writes the final network in the chapter's JSON format.",
  "  --threads sets OpenBLAS's threads (default 1): same seed and threads ⇒ same bits.",
].join("\n");

/** The figures asked for (--monitor), and the one the stopping rules watch. */
function monitored({ monitor, stopping }: ResolvedRunSpec): (figure: EpochFigure) => boolean {
  const asked: Record<EpochFigure, boolean> = {
    trainCost: monitor.trainCost,
    trainAccuracy: monitor.trainAccuracy,
    valCost: monitor.evalCost || stopping.metric === "eval-cost",
    valAccuracy: monitor.evalAccuracy,
    testAccuracy: false,
  };
  return (figure) => asked[figure];
}

async function train(argv: string[]): Promise<number> {
  const name = "train";
  const { values } = parseFlags(name, argv, {
    ...specFlags,
    "data-dir": { type: "string" },
    save: { type: "string" },
    threads: { type: "string" },
    json: { type: "boolean" },
  });
  const reader = new FlagReader(name);
  const spec = resolveFlagsSpec(name, runSpecFromFlags(name, values));
  const threads = reader.integer("threads", values.threads);
  if (threads !== undefined && (threads < 1 || threads > 64)) reader.fail("threads", values.threads!, "a whole number from 1 to 64");
  if (values.save === "") reader.fail("save", "", "a file name, such as model.json");
  if (threads !== undefined) setBlasThreads(threads);
  checkFitsData({ sizes: spec.sizes, activation: spec.activation, cost: spec.cost, init: spec.init });
  const mnist = loadMnist(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] });

  const logger = values.json ? createLogger("mnistctl") : undefined;
  const shown = epochColumns(monitored(spec));
  if (!logger) process.stdout.write(`${headerLine(shown)}\n`);
  const onEpoch = (report: EpochReport) => {
    if (logger) logger.info(report, "epoch");
    else process.stdout.write(`${rowLine(shown, report)}\n`);
  };
  const result = await trainLocally(spec, { mnist, onEpoch });
  // Early stopping's answer: the best weights on the evaluation data, scored on the test set.
  const testAccuracy = spec.evalOn === "validation" ? score(result.bestNetwork, mnist.test, spec).accuracy : result.bestAccuracy;
  if (values.save !== undefined) writeFileSync(values.save, saveNetworkJson(result.network));
  const finished = {
    epochs: result.epochs.length,
    bestEpoch: result.bestEpoch,
    bestAccuracy: result.bestAccuracy,
    evalOn: spec.evalOn,
    testAccuracy,
    stopReason: result.stopReason,
    etaHistory: result.etaHistory,
    wallSeconds: result.wallSeconds,
    blasThreads: result.blasThreads,
    seed: String(spec.seed),
    ...(values.save === undefined ? {} : { saved: values.save }),
  };
  if (logger) logger.info(finished, "run finished");
  else {
    process.stdout.write(
      (spec.stopping.metric === "eval-cost"
        ? `best ${spec.evalOn} cost ${result.best.toFixed(4)} at epoch ${result.bestEpoch} (accuracy ${percent(result.bestAccuracy)}); its test accuracy ${percent(testAccuracy)}\n`
        : `best ${spec.evalOn} accuracy ${percent(result.bestAccuracy)} at epoch ${result.bestEpoch}; its test accuracy ${percent(testAccuracy)}\n`) +
        `stopped: ${result.stopReason}; ${result.wallSeconds.toFixed(1)} s, ${result.blasThreads} BLAS thread(s)` +
        (values.save === undefined ? "" : `; final network saved to ${values.save}`) +
        "\n",
    );
  }
  return 0;
}

export const trainCommand: Command = {
  name: "train",
  summary: "train a network in-process and print per-epoch metrics",
  usage,
  run: train,
};
