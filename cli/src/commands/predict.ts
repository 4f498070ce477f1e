import { checkFitsData, loadNetworkJson, predict, type Network } from "@mnist/core";
import type { Command } from "../command.js";
import { DigitImageError, digitFromImage } from "../digit.js";
import { fetchRunNetwork } from "./export.js";
import { serverFlag } from "../cluster.js";
import { readInputFile, UsageError } from "../errors.js";
import { parseFlags } from "../flags.js";

const usage = [
  "mnistctl predict IMAGE (--model FILE | --run ID [--server HOST:PORT]) [--json]",
  "",
  "Classifies a PNG or JPEG of one handwritten digit with a network in the chapter's JSON format",
  "(mnistctl train --save, network2.save). The picture is prepared the way MNIST was made: greyscale,",
  "inverted if it is dark ink on a light background, cropped to the ink, scaled to fit 20×20 pixels",
  "and centred by its centre of mass in a 28×28 field.",
  "",
  "Prints the digit and ten probabilities. Networks trained with the log-likelihood cost have softmax",
  "outputs, which are probabilities already; quadratic and cross-entropy networks have ten independent",
  "sigmoid outputs, which are normalised to sum to 1 (a relative confidence, not a calibrated one).",
  "--json prints one line: {\"digit\", \"probabilities\"}.",
  "--run ID takes a cluster run's best network on validation data (as mnistctl export ID).",
].join("\n");

export interface Prediction {
  digit: number;
  /** Ten numbers summing to 1, index = digit. */
  probabilities: number[];
}

/** Classifies one 28×28 image (MNIST's uint8 form, 784 bytes) with an MNIST-shaped network. */
export function predictDigit(network: Network, pixels: Uint8Array): Prediction {
  checkFitsData(network.spec);
  const outputs = Array.from(predict(network, pixels, 1));
  // numpy's argmax, as network2.evaluate uses: the first of equal maxima.
  let digit = 0;
  for (let i = 1; i < outputs.length; i++) if (outputs[i]! > outputs[digit]!) digit = i;
  if (network.spec.cost === "log-likelihood") return { digit, probabilities: outputs };
  const sum = outputs.reduce((total, value) => total + value, 0);
  // All ten sigmoids underflow to 0 in float32 only for a wildly out-of-range input; the network
  // then prefers no digit, and the uniform distribution says exactly that.
  const probabilities = sum > 0 ? outputs.map((value) => value / sum) : outputs.map(() => 1 / outputs.length);
  return { digit, probabilities };
}

function formatPrediction({ digit, probabilities }: Prediction, softmax: boolean): string {
  const lines = [`digit ${digit} (probability ${probabilities[digit]!.toFixed(4)})`, softmax ? "softmax outputs:" : "sigmoid outputs normalised to sum to 1:"];
  probabilities.forEach((p, d) => lines.push(`  ${d}  ${p.toFixed(4)}  ${"#".repeat(Math.round(p * 40))}`));
  return lines.join("\n") + "\n";
}

async function predictImage(argv: string[]): Promise<number> {
  const name = "predict";
  const { values, positionals } = parseFlags(name, argv, { model: { type: "string" }, run: { type: "string" }, ...serverFlag, json: { type: "boolean" } }, true);
  if (positionals.length === 0) throw new UsageError(`mnistctl ${name}: IMAGE is required (a PNG or JPEG of one digit)`);
  if (positionals.length > 1) throw new UsageError(`mnistctl ${name}: one IMAGE at a time; got ${positionals.length}: ${positionals.map((p) => JSON.stringify(p)).join(" ")}`);
  if ((values.model === undefined) === (values.run === undefined)) {
    throw new UsageError(`mnistctl ${name}: one of --model FILE (a network in the chapter's JSON format) or --run ID (a cluster run's best network) is required`);
  }
  const network = values.model !== undefined ? loadNetworkJson(readInputFile(name, "model", values.model), values.model) : (await fetchRunNetwork(name, values, values.run!)).network;
  try {
    checkFitsData(network.spec);
  } catch (error) {
    // A well-formed network of another shape: say which network, as for a malformed one.
    const which = values.model !== undefined ? `--model ${values.model}` : `run ${values.run}'s network`;
    if (error instanceof Error && (error as { code?: unknown }).code === "INVALID_ARGUMENT") throw new UsageError(`mnistctl ${name}: ${which}: ${error.message}`);
    throw error;
  }
  let pixels: Uint8Array;
  try {
    pixels = await digitFromImage(positionals[0]!);
  } catch (error) {
    if (error instanceof DigitImageError) throw new UsageError(`mnistctl ${name}: ${error.message}`);
    throw error;
  }
  const prediction = predictDigit(network, pixels);
  if (values.json) process.stdout.write(`${JSON.stringify(prediction)}\n`);
  else process.stdout.write(formatPrediction(prediction, network.spec.cost === "log-likelihood"));
  return 0;
}

export const predictCommand: Command = {
  name: "predict",
  summary: "classify a PNG or JPEG digit",
  usage,
  run: predictImage,
};
