import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../harness/services.js";

/**
 * The packages' dependency arrows as the README's table draws them: each package imports only
 * packages above it, and says so in its manifest; the evaluator never loads the augmentation addon.
 */

const manifest = (dir: string) => JSON.parse(readFileSync(join(repoRoot, dir, "package.json"), "utf8")) as { name: string; dependencies?: Record<string, string> };
const mnistDeps = (dir: string) => Object.keys(manifest(dir).dependencies ?? {}).filter((name) => name.startsWith("@mnist/"));

/** The package rows of the README's table, top to bottom, with the imports each row lists. */
function readmeTable(): { dir: string; imports: string[] }[] {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  return [...readme.matchAll(/^\| `(packages\/[\w-]+)` \| [^\n]*\| ([^|\n]+) \|$/gm)].map((match) => ({
    dir: match[1]!,
    imports: match[2]!.trim() === "—" ? [] : match[2]!.split(",").map((name) => `@mnist/${name.trim()}`),
  }));
}

describe("package dependencies", () => {
  const table = readmeTable();

  it("lists every package of the workspace in the README's table", () => {
    const workspaces = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { workspaces: string[] }).workspaces;
    expect(table.map((row) => row.dir).sort()).toEqual(workspaces.filter((dir) => dir.startsWith("packages/")).sort());
  });

  it("has each package import exactly what its row says, all of it above the row", () => {
    table.forEach(({ dir, imports }, row) => {
      expect(mnistDeps(dir).sort(), dir).toEqual([...imports].sort());
      const above = new Set(table.slice(0, row).map((earlier) => manifest(earlier.dir).name));
      for (const name of imports) expect(above.has(name), `${dir} imports ${name}, which is not above it`).toBe(true);
    });
  });

  it("keeps the evaluator off the augmentation addon and the epoch stream", () => {
    expect(mnistDeps("services/evaluator")).not.toContain("@mnist/augment");
    expect(mnistDeps("services/evaluator")).not.toContain("@mnist/stream");
    expect(mnistDeps("services/evaluator")).not.toContain("@mnist/training");
  });
});
