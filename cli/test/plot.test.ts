import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { runNode } from "../../test/harness/services.js";
import { epochRecordsFromLog } from "../src/commands/plot.js";
import { learningCurvesSvg, PlotInputError, renderLearningCurves, type EpochRecord } from "../src/plot.js";

const dir = mkdtempSync(join(tmpdir(), "mnistctl-plot-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Ten epochs shaped like the chapter's runs; η halved after epoch 5 and again after epoch 7. */
const run: EpochRecord[] = Array.from({ length: 10 }, (_, epoch) => ({
  epoch,
  eta: epoch < 6 ? 0.5 : epoch < 8 ? 0.25 : 0.125,
  trainCost: 0.3 + 1.2 * Math.exp(-epoch / 3),
  trainAccuracy: 0.99 - 0.1 * Math.exp(-epoch / 3),
  valCost: 0.6 + 0.8 * Math.exp(-epoch / 4),
  valAccuracy: 0.96 - 0.08 * Math.exp(-epoch / 4),
}));

describe("learningCurvesSvg", () => {
  it("draws cost and accuracy panels with the monitored series, the η changes and a legend", () => {
    const svg = learningCurvesSvg(run, { title: "run 42" });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="1000" height="440"/);
    for (const panel of ["cost", "accuracy"]) expect(svg).toContain(`data-panel="${panel}"`);
    for (const series of ["trainCost", "valCost", "trainAccuracy", "valAccuracy"]) expect(svg).toContain(`data-series="${series}"`);
    for (const absent of ["testAccuracy"]) expect(svg).not.toContain(`data-series="${absent}"`);
    const markers = [...svg.matchAll(/<line class="eta-change" data-eta="([\d.]+)"/g)].map((match) => match[1]);
    // One marker per change in each of the two panels.
    expect(markers).toEqual(["0.25", "0.125", "0.25", "0.125"]);
    expect(svg).toContain("η = 0.25");
    expect(svg).toContain("η = 0.125");
    expect(svg).toContain("η changed");
    for (const label of ["training data", "validation data", "epoch", "accuracy (%)", ">run 42<", "epochs 0–9; η = 0.5, changed 2 times, finally 0.125"]) expect(svg).toContain(label);
    // Accuracy is drawn in percent, from 88 % to 98.5 % here: ticks 85 to 100 in fives.
    for (const tick of [85, 90, 95, 100]) expect(svg).toContain(`>${tick}</text>`);
  });

  it("is deterministic and escapes the title", () => {
    const title = `<script>alert("&")</script> 'quoted'\u0007`;
    const svg = learningCurvesSvg(run, { title });
    expect(learningCurvesSvg(run, { title })).toBe(svg);
    expect(svg).toContain("&lt;script&gt;alert(&quot;&amp;&quot;)&lt;/script&gt; &#39;quoted&#39;\ufffd");
    expect(svg).not.toContain("<script>");
  });

  it("draws validation and test series, and breaks a line where an epoch was not scored", () => {
    const records: EpochRecord[] = [
      { epoch: 0, eta: 0.1, valCost: 1, valAccuracy: 0.8, testAccuracy: 0.79 },
      { epoch: 1, eta: 0.1, valCost: 0.8 },
      { epoch: 2, eta: 0.1, valCost: 0.7, valAccuracy: 0.85, testAccuracy: 0.84 },
      { epoch: 3, eta: 0.1, valCost: 0.65, valAccuracy: 0.86, testAccuracy: 0.85 },
    ];
    const svg = learningCurvesSvg(records);
    for (const series of ["valCost", "valAccuracy", "testAccuracy"]) expect(svg).toContain(`data-series="${series}"`);
    expect(svg).toContain("validation data");
    expect(svg).toContain("test data");
    expect(svg).not.toContain("eta-change");
    const accuracy = svg.slice(svg.indexOf('data-series="valAccuracy"'), svg.indexOf('data-series="testAccuracy"'));
    // Epoch 0 alone, then epochs 2-3 joined: one polyline of two points.
    expect(accuracy.match(/<polyline points="[^"]*"/g)).toHaveLength(1);
    expect(accuracy.match(/<polyline points="([^"]*)"/)![1]!.split(" ")).toHaveLength(2);
    expect(accuracy.match(/<circle /g)).toHaveLength(3);
  });

  it.each([
    [[], "no epoch records to plot"],
    [[{ epoch: 0, eta: 0.5 }], "the records carry no cost or accuracy"],
    [[{ epoch: 0, eta: 0.5, valAccuracy: 96.5 }], "epoch 0: valAccuracy is 96.5; accuracies are fractions from 0 to 1"],
    [[{ epoch: 0, eta: 0.5, trainCost: 1 }, { epoch: 0, eta: 0.5, trainCost: 1 }], "epoch 0 appears twice"],
    [[{ epoch: 1.5, eta: 0.5, trainCost: 1 }], "epoch 1.5: epoch is 1.5; expected a whole number from 0"],
    [[{ epoch: 0, eta: 0, trainCost: 1 }], "epoch 0: eta is 0; expected a learning rate greater than 0"],
    [[{ epoch: 0, eta: 0.5, trainCost: "1" }], 'epoch 0: trainCost is "1"; expected a number'],
  ])("rejects %j with a PlotInputError", (records, message) => {
    expect(() => learningCurvesSvg(records as EpochRecord[])).toThrow(PlotInputError);
    expect(() => learningCurvesSvg(records as EpochRecord[])).toThrow(message);
  });
});

describe("renderLearningCurves", () => {
  it("writes a PNG of the SVG's size", async () => {
    const out = join(dir, "curves.png");
    await renderLearningCurves(run, out);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 1000, 440]);
    const small = join(dir, "small.png");
    await renderLearningCurves(run, small, { width: 640, height: 320, title: `a <b> & "c"` });
    const smallMeta = await sharp(small).metadata();
    expect([smallMeta.format, smallMeta.width, smallMeta.height]).toEqual(["png", 640, 320]);
    // Not a blank canvas: the curves' colours are in it.
    expect((await sharp(out).stats()).isOpaque).toBe(true);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    let blue = 0;
    for (let i = 0; i < data.length; i += info.channels) if (data[i]! < 80 && data[i + 2]! > 150) blue++;
    expect(blue).toBeGreaterThan(500);
  });
});

describe("mnistctl plot", () => {
  it("plots the epoch lines of mnistctl train --json, with the learning-rate decays it made", async () => {
    // η = 1e-9 never improves accuracy, so the policy halves η after every stalled epoch.
    const train = await runNode("cli/dist/main.js", [
      ...["train", "--sizes", "784,10,10", "--epochs", "4", "--train-limit", "500", "--eta", "1e-9", "--decay-after", "1", "--min-eta-fraction", "0.125"],
      ...["--monitor", "train-cost,train-accuracy,eval-cost,eval-accuracy", "--json"],
    ]);
    expect(train.code).toBe(0);
    const log = join(dir, "train.log");
    writeFileSync(log, train.stdout);
    const { records } = epochRecordsFromLog(train.stdout, log);
    const etas = records.map((record) => record.eta);
    expect(new Set(etas).size).toBeGreaterThan(1);

    const svgOut = join(dir, "curves.svg");
    const svgRun = await runNode("cli/dist/main.js", ["plot", "--log", log, "--out", svgOut, "--title", "tiny η"]);
    expect(svgRun.stderr).toBe("");
    expect(svgRun.code).toBe(0);
    expect(svgRun.stdout).toBe(`wrote ${svgOut}: ${records.length} epochs (1000×440)\n`);
    const svg = readFileSync(svgOut, "utf8");
    expect(svg).toBe(learningCurvesSvg(records, { title: "tiny η" }));
    for (const series of ["trainCost", "valCost", "trainAccuracy", "valAccuracy"]) expect(svg).toContain(`data-series="${series}"`);
    expect(svg).toContain(`class="eta-change"`);

    const pngOut = join(dir, "from-log.png");
    const pngRun = await runNode("cli/dist/main.js", ["plot", "--log", log, "--out", pngOut, "--width", "800", "--height", "400"]);
    expect(pngRun.code).toBe(0);
    const meta = await sharp(pngOut).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 800, 400]);
  });

  const table = join(dir, "table.txt");
  writeFileSync(table, "epoch  eta  eval acc\n    0  0.5  90.1%\n");
  const finishedOnly = join(dir, "finished.log");
  writeFileSync(finishedOnly, `${JSON.stringify({ level: 30, msg: "run finished", epochs: 0 })}\n`);
  const percents = join(dir, "percents.log");
  writeFileSync(percents, `${JSON.stringify({ msg: "epoch", epoch: 0, eta: 0.5, valAccuracy: 91 })}\n`);
  const good = join(dir, "good.log");
  writeFileSync(good, `${JSON.stringify({ msg: "epoch", epoch: 0, eta: 0.5, valAccuracy: 0.91 })}\n`);
  it.each([
    [["plot"], "one of ID (a cluster run) or --log FILE (JSON lines from mnistctl train --json) is required"],
    [["plot", "--log", table], "--out FILE is required"],
    [["plot", "--log", table, "--out", "curves.jpg"], '--out is "curves.jpg"; allowed: a file name ending in .png or .svg'],
    [["plot", "--log", table, "--out", "/no/such/dir/curves.png"], "directory /no/such/dir does not exist"],
    [["plot", "--log", join(dir, "absent.log"), "--out", join(dir, "x.png")], "--log " + join(dir, "absent.log") + ": ENOENT"],
    [["plot", "--log", table, "--out", join(dir, "x.png")], `${table} line 1 is not JSON (write the log with mnistctl train --json)`],
    [["plot", "--log", finishedOnly, "--out", join(dir, "x.png")], `${finishedOnly} has no epoch lines`],
    [["plot", "--log", percents, "--out", join(dir, "x.png")], "mnistctl plot: epoch 0: valAccuracy is 91; accuracies are fractions from 0 to 1"],
    [["plot", "--log", percents, "--out", join(dir, "x.png"), "--width", "wide"], '--width is "wide"; allowed: a number'],
    [["plot", "--log", good, "--out", join(dir, "x.png"), "--width", "20"], "width 20: expected a whole number of pixels from 400 to 10000"],
    [["plot", "run-7", "--log", "train.jsonl", "--out", "curves.png"], "one of ID (a cluster run) or --log FILE"],
    [["plot", "run-7", "run-8", "--out", "curves.png"], "expected one run id, got 2 arguments"],
  ])("rejects %j with exit 2 and one line", async (args, message) => {
    const result = await runNode("cli/dist/main.js", args);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(message);
  });
});

describe("logs written before the epoch fields had one set of names", () => {
  it("reads evalAccuracy and evalCost as valAccuracy and valCost", () => {
    const line = JSON.stringify({ msg: "epoch", epoch: 0, eta: 0.5, evalAccuracy: 0.91, evalCost: 0.4 });
    expect(epochRecordsFromLog(line, "old.log").records).toEqual([{ epoch: 0, eta: 0.5, valAccuracy: 0.91, valCost: 0.4 }]);
  });
});
