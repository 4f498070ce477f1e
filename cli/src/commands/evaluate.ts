import { readFileSync } from "node:fs";
import { checkFitsData, loadMnist, loadNetworkJson } from "@mnist/core";
import { score } from "@mnist/spec";
import type { Command } from "../command.js";
import { UsageError } from "../errors.js";
import { FlagReader, parseFlags } from "../flags.js";
import { percent } from "../table.js";

const usage = [
  "mnistctl evaluate --model FILE [--on test|validation] [--lambda L] [--l1 L] [--data-dir DIR] [--json]",
  "",
  "Scores a network saved in the chapter's JSON format (mnistctl train --save, network2.save):",
  "accuracy, and cost as network2's total_cost (with --lambda/--l1 its regularisation terms).",
].join("\n");

async function evaluateModel(argv: string[]): Promise<number> {
  const name = "evaluate";
  const { values } = parseFlags(name, argv, {
    model: { type: "string" },
    on: { type: "string" },
    lambda: { type: "string" },
    l1: { type: "string" },
    "data-dir": { type: "string" },
    json: { type: "boolean" },
  });
  const reader = new FlagReader(name);
  if (!values.model) throw new UsageError(`mnistctl ${name}: --model FILE is required (a network in the chapter's JSON format)`);
  const on = reader.choice("on", values.on, ["test", "validation"] as const) ?? "test";
  const lambda = reader.number("lambda", values.lambda) ?? 0;
  const l1 = reader.number("l1", values.l1) ?? 0;
  if (lambda < 0) reader.fail("lambda", values.lambda!, "a number of at least 0");
  if (l1 < 0) reader.fail("l1", values.l1!, "a number of at least 0");
  const network = loadNetworkJson(readFileSync(values.model, "utf8"), values.model);
  checkFitsData(network.spec);
  const mnist = loadMnist(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] });
  const data = mnist[on];
  const { accuracy, cost } = score(network, data, { lambda, l1 });
  if (values.json) process.stdout.write(`${JSON.stringify({ model: values.model, on, accuracy, cost, correct: Math.round(accuracy * data.count), count: data.count })}\n`);
  else process.stdout.write(`${on}: accuracy ${percent(accuracy)} (${Math.round(accuracy * data.count)}/${data.count}), cost ${cost.toFixed(4)}\n`);
  return 0;
}

export const evaluateCommand: Command = {
  name: "evaluate",
  summary: "score a saved network on the test or validation set",
  usage,
  run: evaluateModel,
};
