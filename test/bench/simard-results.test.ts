import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runtimeInfo } from "@mnist/core";
import { kernelsOf, renderSimardReport, simardRows, type SimardEntry } from "../../bench/dist/simard.js";
import { runNode } from "../harness/services.js";

/**
 * bench/results/simard.json is what the README's Results quote: each entry must be its row's run
 * (the argv the bench and the README give), its figures self-consistent, simard.md its rendering,
 * and the best run's first epochs reproducible with `mnistctl train` where the kernels match.
 */

const results = new URL("../../bench/results/", import.meta.url);
const entries = JSON.parse(readFileSync(new URL("simard.json", results), "utf8")) as SimardEntry[];
const markdown = readFileSync(new URL("simard.md", results), "utf8");
const kernels = kernelsOf(runtimeInfo().blasConfig);
const best = entries.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a));

describe("bench/results/simard.json", () => {
  it("has one entry per row, in the rows' order, each with its row's exact arguments", () => {
    const names = entries.map((entry) => entry.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(simardRows.filter((row) => names.includes(row.name)).map((row) => row.name));
    for (const entry of entries) expect(entry.argv, entry.name).toEqual(simardRows.find((row) => row.name === entry.name)!.argv);
  });

  it("names each run's best epoch, η schedule and test accuracy consistently", () => {
    for (const entry of entries) {
      const accuracies = entry.epochs.map((epoch) => epoch.valAccuracy);
      expect(entry.epochs.map((epoch) => epoch.epoch), entry.name).toEqual(entry.epochs.map((_, i) => i));
      expect(entry.bestEpoch, entry.name).toBe(accuracies.indexOf(Math.max(...accuracies)));
      expect(entry.testAccuracy, entry.name).toBeGreaterThan(0.9);
      expect(entry.testAccuracy, entry.name).toBeLessThan(1);
      // η only falls, and only by the decay factor: the evaluator's halvings.
      for (let i = 1; i < entry.epochs.length; i++) expect([1, 0.5], `${entry.name} epoch ${i}`).toContain(entry.epochs[i]!.eta / entry.epochs[i - 1]!.eta);
    }
  });

  it("is what simard.md shows", () => {
    const rendered = renderSimardReport(entries, []);
    const tableLines = (text: string) => text.split("\n").filter((line) => line.startsWith("|"));
    expect(tableLines(markdown)).toEqual(tableLines(rendered));
  });

  it.skipIf(best.machine.kernels !== kernels)(`reproduces the best run's first epochs with mnistctl train (${best.name}, ${best.machine.kernels} kernels)`, async () => {
    const result = await runNode("cli/dist/main.js", ["train", ...best.argv, "--epochs", "2", "--json"]);
    expect(result.code).toBe(0);
    const epochs = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === "epoch");
    expect(epochs.map(({ epoch, eta, valAccuracy, valCost }) => ({ epoch, eta, valAccuracy, valCost }))).toEqual(
      best.epochs.slice(0, 2).map(({ epoch, eta, valAccuracy, valCost }) => ({ epoch, eta, valAccuracy, valCost })),
    );
  });
});
