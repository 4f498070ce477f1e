import { describe, expect, it } from "vitest";
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
});
