import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { expect } from "vitest";
import { readLatestCheckpoint } from "@mnist/cluster";
import { loadMnist, loadNetworkJson } from "@mnist/core";
import { presets, runSpec } from "@mnist/spec";
import { trainLocally, type LocalRunResult } from "@mnist/training";
import type { Cluster } from "./cluster.js";

/**
 * A run launched through the cluster and its in-process twin, and the checks that the cluster's
 * run came out as the twin did whatever happened to the cluster meanwhile (faults, hostile input).
 */

const mnist = loadMnist();
export const sha = (params: Float32Array) => createHash("sha256").update(params).digest("hex");
export const jsonLines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);

export interface Shape {
  epochs: number;
  trainLimit: number;
  hidden: number;
  /** η halved after this many epochs without a new best (0: off). */
  decayAfter: number;
}

export const flags = (shape: Shape) => [
  ...["--sizes", `784,${shape.hidden},10`, "--train-limit", String(shape.trainLimit), "--epochs", String(shape.epochs)],
  ...["--momentum", "0.3", "--eta", "0.3", "--seed", "5", "--augment", "affine", "--decay-after", String(shape.decayAfter)],
];

/** The spec `mnistctl run` sends for flags(shape), trained in-process. */
export const reference = (shape: Shape): Promise<LocalRunResult> =>
  trainLocally(
    runSpec({
      sizes: [784, shape.hidden, 10],
      trainLimit: shape.trainLimit,
      epochs: shape.epochs,
      momentum: 0.3,
      eta: 0.3,
      seed: 5n,
      stopping: { decayAfter: shape.decayAfter },
      augment: { ...presets.affine },
    }),
    { mnist },
  );

/** Launches flags(shape) with mnistctl run; the run id. */
export async function launch(c: Cluster, shape: Shape): Promise<string> {
  const launched = await c.cli(["run", ...flags(shape)]);
  expect(launched.stderr).toBe("");
  return launched.stdout.trim();
}

/** Everything a survived fault must leave as it would have been without it. */
export async function expectIntact(c: Cluster, runId: string, shape: Shape, local: LocalRunResult) {
  const watched = await c.cli(["watch", runId, "--json"], 180_000);
  const lines = jsonLines(watched.stdout);
  const finished = lines.at(-1)!;
  expect(finished, watched.stderr).toMatchObject({ msg: "run finished", state: "finished" });
  // Every epoch once, in order, and the same decisions as in-process: the schedule was not applied twice.
  const record = JSON.parse((await c.cli(["get", runId, "--json"])).stdout) as { epochs: { epoch: number; eta: number }[]; etaHistory: { epoch: number; eta: number }[] };
  expect(record.epochs.map((epoch) => epoch.epoch)).toEqual(local.epochs.map((epoch) => epoch.epoch));
  expect(record.etaHistory.map(({ epoch, eta }) => ({ epoch: epoch ?? 0, eta }))).toEqual(local.etaHistory);
  // Every training example once per epoch: the stream position the last checkpoint carries.
  const nats = await connect({ servers: c.nats.url });
  try {
    const latest = (await readLatestCheckpoint(nats, runId))?.checkpoint;
    expect(latest!.examplesSeen).toBe(BigInt(local.epochs.length * shape.trainLimit));
  } finally {
    await nats.close();
  }
  const dir = mkdtempSync(join(tmpdir(), "mnist-faults-"));
  try {
    const out = join(dir, "last.json");
    const exported = await c.cli(["export", runId, "--last", "--out", out]);
    expect(exported.stderr).toBe("");
    expect(sha(loadNetworkJson(readFileSync(out, "utf8")).params)).toBe(sha(local.network.params));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
