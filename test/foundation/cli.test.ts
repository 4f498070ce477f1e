import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runNodeMeasured } from "../harness/memory.js";
import { runNode } from "../harness/services.js";

describe("mnistctl", () => {
  it("lists every command in --help", async () => {
    const result = await runNode("cli/dist/main.js", ["--help"]);
    expect(result.code).toBe(0);
    for (const command of ["train", "evaluate", "augment", "run", "list", "get", "watch", "stop", "set", "set-lr", "sweep", "predict", "export", "plot"]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    }
  });

  it("rejects an unknown command with exit 2 and one line", async () => {
    const result = await runNode("cli/dist/main.js", ["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual(['unknown command "frobnicate"; run mnistctl --help for the list']);
  });

  it("refuses a sweep with more trials than a sweep may have before building any, naming the count and the limit", async () => {
    // 445 bytes: ten parameters of ten values, 10^10 trials (it once exhausted the CLI's memory building them).
    const values = "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]";
    const fields = ["eta", "lambda", "l1", "dropout", "momentum", "miniBatch", "epochs", "trainLimit", "seed", "inputDropout"];
    const yaml = `apiVersion: mnist-pipeline/v1\nkind: Sweep\nmetadata: {name: bomb}\nspec:\n  template: {sizes: [784, 10, 10]}\n  parameters:\n${fields.map((field) => `    ${field}: ${values}`).join("\n")}\n`;
    const path = join(mkdtempSync(join(tmpdir(), "mnistctl-apply-")), "bomb.yaml");
    writeFileSync(path, yaml);
    const applied = await runNodeMeasured("cli/dist/main.js", ["apply", "-f", path, "--server", "127.0.0.1:1"]);
    expect(applied.code).toBe(2);
    expect(applied.stderr.trim().split("\n")).toEqual([
      `mnistctl apply: ${path} document 1 (Sweep bomb): spec.parameters make 10,000,000,000 trials (${fields.map((field) => `${field} 10`).join(" × ")}); a sweep has at most 1000`,
    ]);
    expect(applied.peakRssBytes).toBeLessThan(300 * 2 ** 20);
    const swept = await runNode("cli/dist/main.js", ["sweep", "--eta", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1", "--lambda", "0,1,2,3,4,5,6,7,8,9", "--mb", "1,2,3,4,5,6,7,8,9,10,11", "--server", "127.0.0.1:1"]);
    expect([swept.code, swept.stderr.trim()]).toEqual([2, "mnistctl sweep: 1,100 runs is too many; at most 1000"]);
  });
});
