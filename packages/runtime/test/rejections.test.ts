import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { Rejections } from "../src/index.js";

/** A real pino logger whose JSON lines are kept. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ base: { service: "test" } }, stream), lines };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("Rejections", () => {
  it("counts every rejection by source and reason, but logs only the first few of each interval", async () => {
    const { logger, lines } = capture();
    const rejections = new Rejections(logger, { logBudget: 3, intervalMs: 60_000 });
    for (let i = 0; i < 1_000; i++) rejections.reject("checkpoints", i % 2 ? "undecodable" : "invalid", { detail: `#${i}` });
    rejections.reject("runs", "invalid");
    await settle();
    expect(rejections.snapshot()).toEqual({ "checkpoints/invalid": 500, "checkpoints/undecodable": 500, "runs/invalid": 1 });
    expect(lines.filter((line) => line.msg === "rejected").map((line) => line.detail)).toEqual(["#0", "#1", "#2"]);
    rejections.stop();
    await settle();
    // The totals on stop, and a fresh budget after them.
    expect(lines.at(-1)).toMatchObject({ msg: "rejections", rejected: 1_001, rejections: { "checkpoints/invalid": 500, "runs/invalid": 1 } });
    rejections.reject("runs", "undecodable", { key: "x" });
    await settle();
    expect(lines.at(-1)).toMatchObject({ msg: "rejected", source: "runs", reason: "undecodable", key: "x", rejected: 1_002 });
  });

  it("logs the totals each interval in which they changed, and only then", async () => {
    // The interval's clock is the test's: each tick happens when the test says, so "no line in
    // this interval" is checked after that interval has ended, not after a guess at how long it takes.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const { logger, lines } = capture();
      const totals = () => lines.filter((line) => line.msg === "rejections").map((line) => line.rejected);
      const rejections = new Rejections(logger, { intervalMs: 50 }).start();
      rejections.reject("progress", "invalid");
      expect(totals()).toEqual([]);
      vi.advanceTimersByTime(50);
      await settle();
      expect(totals()).toEqual([1]);
      vi.advanceTimersByTime(100); // two intervals without a rejection
      await settle();
      expect(totals()).toEqual([1]);
      rejections.reject("progress", "invalid");
      vi.advanceTimersByTime(50);
      await settle();
      expect(totals()).toEqual([1, 2]);
      rejections.stop(); // nothing new since the last line
      await settle();
      expect(totals()).toEqual([1, 2]);
    } finally {
      vi.useRealTimers();
    }
  });
});
