import { createNetwork, evaluate, type Dataset, type Network } from "@mnist/core";
import type { ResolvedRunSpec } from "./spec.js";

/** The run's initial network: its layer sizes, activation, cost and initialisation, seeded by the run's seed. */
export function initialNetwork(spec: ResolvedRunSpec): Network {
  return createNetwork({ sizes: spec.sizes, activation: spec.activation, cost: spec.cost, init: spec.init }, spec.seed);
}

export interface Score {
  accuracy: number;
  /** network2's total_cost: the mean cost plus the regularisation terms of the run. */
  cost: number;
}

export function score(network: Network, data: Dataset, spec: Pick<ResolvedRunSpec, "lambda" | "l1">): Score {
  const { accuracy, cost } = evaluate(network, data.pixels, data.labels, data.count, { lambda: spec.lambda, l1: spec.l1 });
  return { accuracy, cost };
}
