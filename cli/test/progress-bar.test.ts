import { create } from "@bufbuild/protobuf";
import { EpochProgressSchema } from "@mnist/protocol";
import { describe, expect, it } from "vitest";
import { progressLine } from "../src/progress-bar.js";

const at = (examples: number, total = 50_000) => create(EpochProgressSchema, { runId: "r", epoch: 7, examples, total, imagesPerSecond: 71_234.4 });

describe("the epoch progress line", () => {
  it("shows the epoch, a bar filled in proportion, the images so far of the total, images/s and the time left", () => {
    const line = progressLine(at(25_000), 120);
    expect(line).toBe(`epoch 7 ${"█".repeat(20)}${"░".repeat(20)}  25,000/50,000 images  71,234 images/s  0 s left`);
    expect(progressLine(create(EpochProgressSchema, { epoch: 3, examples: 1_000, total: 250_000, imagesPerSecond: 1_000 }), 160)).toMatch(/  1,000 images\/s  4 min left$/);
    expect(progressLine(at(0), 120)).toContain("░".repeat(40));
    expect(progressLine(at(50_000), 120)).toContain("█".repeat(40));
  });

  it("fits a narrow terminal without wrapping", () => {
    for (const columns of [30, 60, 80]) expect([...progressLine(at(12_000), columns)].length).toBeLessThan(columns);
  });
});
