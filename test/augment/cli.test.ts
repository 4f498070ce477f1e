import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { runNode } from "../harness/services.js";

const dir = mkdtempSync(join(tmpdir(), "mnist-augment-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mnistctl augment", () => {
  it.each(["affine", "elastic"])("bench --transform %s --json prints one JSON line with imagesPerSecond", async (transform) => {
    const result = await runNode("cli/dist/main.js", ["augment", "bench", "--transform", transform, "--count", "20000", "--json"]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!) as { transform: string; count: number; imagesPerSecond: number };
    expect(report).toMatchObject({ transform, count: 20_000 });
    expect(report.imagesPerSecond).toBeGreaterThan(1000);
  });

  it("preview writes a PNG contact sheet: each original beside its distorted copies", async () => {
    const out = join(dir, "grid.png");
    const result = await runNode("cli/dist/main.js", ["augment", "preview", "--transform", "elastic", "--count", "3", "--copies", "4", "--zoom", "2", "--out", out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("3 originals, each beside 4 elastic copies");
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe("png");
    // 2 + 56 + 8 + 4 × (56 + 2) wide, 2 + 3 × (56 + 2) high
    expect([meta.width, meta.height]).toEqual([298, 176]);
  });

  it.each([
    [["augment"], "a subcommand is required"],
    [["augment", "shuffle"], 'unknown subcommand "shuffle"'],
    [["augment", "bench", "--transform", "blur"], '--transform is "blur"; allowed: one of elastic, affine'],
    [["augment", "bench", "--count", "0"], '--count is "0"; allowed: a whole number from 1'],
    [["augment", "preview", "--transform", "none"], "--out FILE.png is required"],
    [["augment", "preview", "--out", "grid.jpg"], "a file name ending in .png"],
    [["augment", "preview", "--frobnicate", "--out", "x.png"], "Unknown option '--frobnicate'"],
  ])("rejects %j with exit 2 and one line", async (args, message) => {
    const result = await runNode("cli/dist/main.js", args);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(message);
  });
});
