import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type Cluster } from "../harness/cluster.js";

/**
 * Runs as Kubernetes-style objects: apply -f of TrainingRun and Sweep documents, get -o yaml|wide,
 * describe, logs and delete, each by name.
 */

let cluster: Cluster;
const dir = mkdtempSync(join(tmpdir(), "mnist-apply-"));
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const runs = `apiVersion: mnist-pipeline/v1
kind: TrainingRun
metadata:
  name: small
spec:
  sizes: [784, 10, 10]
  epochs: 2
  trainLimit: 1000
  cost: cross-entropy
  stopping: {decayAfter: 3, metric: eval-cost}
---
apiVersion: mnist-pipeline/v1
kind: Sweep
metadata:
  name: rates
spec:
  template: {sizes: [784, 10, 10], epochs: 1, trainLimit: 1000}
  parameters:
    eta: [0.1, 1]
  scheduler: {kind: asha}
`;

describe("mnistctl apply", () => {
  it("launches every document, changes nothing when applied again, and refuses another spec under a taken name, naming the fields", async () => {
    const path = file("runs.yaml", runs);
    const first = await cluster.cli(["apply", "-f", path]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^trainingrun\/small created \(run-[\w-]+\)\nsweep\/rates created \(sweep-[\w-]+: 2 trials, rates-0, rates-1\)\n$/);
    const again = await cluster.cli(["apply", "-f", path]);
    expect(again.stdout).toBe("trainingrun/small unchanged\nsweep/rates unchanged\n");
    const changed = await cluster.cli(["apply", "-f", file("changed.yaml", runs.replace("epochs: 2", "epochs: 3\n  eta: 0.25"))]);
    expect(changed.code).toBe(2);
    expect(changed.stderr.trim()).toBe("mnistctl apply: trainingrun/small exists with another spec (" + join(dir, "changed.yaml") + " document 1 (TrainingRun small)): spec.epochs: 2 → 3; spec.eta: 0.5 → 0.25");
  });

  it("checks each spec with the flags' rules and messages, and says which document and field is wrong", async () => {
    const bad = await cluster.cli(["apply", "-f", file("bad.yaml", runs.replace("epochs: 2", "epochs: 2\n  eta: -1"))]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^mnistctl apply: .*bad\.yaml document 1 \(TrainingRun small\): spec\.eta is -1; allowed: /);
    const unknown = await cluster.cli(["apply", "-f", file("unknown.yaml", runs.replace("trainLimit: 1000", "trainLimmit: 1000"))]);
    expect(unknown.stderr).toMatch(/document 1 \(TrainingRun small\): spec: .*trainLimmit/);
    const kind = await cluster.cli(["apply", "-f", file("kind.yaml", runs.replace("kind: TrainingRun", "kind: Pod"))]);
    expect(kind.stderr.trim()).toMatch(/document 1: kind is "Pod"; allowed: TrainingRun, Sweep$/);
  });

  it("get -o yaml shows a TrainingRun that applies back unchanged; describe, logs and delete work by name", async () => {
    await cluster.cli(["watch", "small"]);
    const yaml = await cluster.cli(["get", "run", "small", "-o", "yaml"]);
    expect(yaml.code, yaml.stderr).toBe(0);
    const object = parse(yaml.stdout) as { apiVersion: string; kind: string; metadata: { name: string; uid: string }; spec: { cost: string }; status: { state: string; epochs: unknown[] } };
    expect(object).toMatchObject({ apiVersion: "mnist-pipeline/v1", kind: "TrainingRun", metadata: { name: "small" }, spec: { cost: "cross-entropy" }, status: { state: "finished" } });
    expect(object.status.epochs).toHaveLength(2);
    const { status: _status, ...applied } = object;
    expect((await cluster.cli(["apply", "-f", file("roundtrip.yaml", JSON.stringify(applied))])).stdout).toBe("trainingrun/small unchanged\n");

    const wide = await cluster.cli(["get", "runs", "-o", "wide"]);
    expect(wide.stdout.split("\n")[0]).toMatch(/run\s+name\s+state\s+network\s+epochs\s+best val\s+test\s+eta\s+trainer\s+sweep\s+created\s+stop reason/);
    expect(wide.stdout).toMatch(/small\s+finished\s+\[784,10,10\]\s+2\/2/);
    const list = parse((await cluster.cli(["get", "runs", "-o", "yaml"])).stdout) as { kind: string; items: { metadata: { name: string } }[] };
    expect(list.kind).toBe("TrainingRunList");
    expect(list.items.map((item) => item.metadata.name)).toEqual(expect.arrayContaining(["small", "rates-0", "rates-1"]));

    const described = await cluster.cli(["describe", "run", "small"]);
    expect(described.stdout).toMatch(/^Name: +small\nUID: +run-/);
    expect(described.stdout).toMatch(/State: +finished/);
    expect(described.stdout).toMatch(/Events:\n.*event/);

    const logs = (await cluster.cli(["logs", "small"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { msg: string; epoch: number; valAccuracy: number; decision: string });
    expect(logs.map((line) => [line.msg, line.epoch])).toEqual([
      ["epoch", 0],
      ["epoch", 1],
    ]);
    expect(logs[0]!.valAccuracy).toBeGreaterThan(0.5);

    const deleted = await cluster.cli(["delete", "run", "small"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(/^run run-[\w-]+ \(small\) deleted, with [1-9]\d* checkpoint objects?\n$/);
    expect((await cluster.cli(["get", "small"])).code).toBe(2);
    // The name is free again.
    expect((await cluster.cli(["apply", "-f", join(dir, "runs.yaml")])).stdout).toMatch(/^trainingrun\/small created/);
  });
});
