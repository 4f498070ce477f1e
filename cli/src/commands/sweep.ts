import { clone, create } from "@bufbuild/protobuf";
import { InvalidArgument } from "@mnist/errors";
import { RunSpecSchema, RunState, SchedulerSpecSchema, type RunRecord, type RunSpec, type SweepRecord } from "@mnist/protocol";
import type { Command } from "../command.js";
import { serverFlag, stateName, withRunService } from "../cluster.js";
import { isTerminal, maxSweepTrials, resolveScheduler, runDefaults, schedulerByName, splitmix64 } from "@mnist/spec";
import { UsageError } from "../errors.js";
import { FlagReader, parseFlags } from "../flags.js";
import { resolveFlagsSpec, runSpecFromFlags, specFlags, specFlagsHelp } from "../spec-flags.js";
import { formatTable, percent } from "../table.js";

const usage = [
  "mnistctl sweep [--eta LIST] [--lambda LIST] [--hidden LIST] [--mb LIST] [--random N [--sweep-seed S]] [flags] [--json] [--server HOST:PORT]",
  "",
  "A grid search over the lists (every combination), or with --random N, N combinations drawn",
  "at random: from the lists, or log-uniformly from a range LOW:HIGH (--eta and --lambda).",
  "  --eta 0.1,0.5,1.0   --lambda 0,1,5   --mb 10,100   --hidden 30,100,100-30 (hidden layers; - between layers)",
  "Every other flag sets the runs' common spec:",
  specFlagsHelp,
  "Early stopping of bad trials (the sweep's state lives on the evaluator, in the KV bucket sweeps):",
  "  --scheduler none|asha|median   none (default): every trial runs to its own end; asha: asynchronous",
  "                             successive halving, rungs at --grace-period × --reduction-factor^k epochs,",
  "                             the top 1/reduction-factor of those at a rung go on; median: stop a trial",
  "                             whose best is below the median of the others' running averages",
  "  --grace-period 1           --reduction-factor 3        --min-samples 3 (median: fewest others)",
  "The runs queue on the evaluator and spread over the trainers; the sweep waits for all of them",
  "and prints them ranked by best validation accuracy, and the trainer-epochs they took.",
].join("\n");

type Axis = { values: number[] } | { low: number; high: number };

const kebab = (camel: string) => camel.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

function axis(reader: FlagReader, flag: string, raw: string | undefined, integer: boolean): Axis | undefined {
  if (raw === undefined) return undefined;
  const range = /^([^:]+):([^:]+)$/.exec(raw);
  if (range && !integer) {
    const [low, high] = [Number(range[1]), Number(range[2])];
    if (!(low > 0 && high > low && Number.isFinite(high))) reader.fail(flag, raw, "a range LOW:HIGH with 0 < LOW < HIGH");
    return { low, high };
  }
  const values = raw.split(",").map((part) => Number(part.trim()));
  if (values.some((value) => !Number.isFinite(value) || (integer && !Number.isInteger(value)))) {
    reader.fail(flag, raw, integer ? "comma-separated whole numbers" : "comma-separated numbers, or a range LOW:HIGH with --random");
  }
  return { values };
}

function hiddenLayers(reader: FlagReader, raw: string | undefined): number[][] | undefined {
  if (raw === undefined) return undefined;
  const options = raw.split(",").map((item) => item.split("-").map((size) => Number(size.trim())));
  if (options.some((layers) => layers.some((size) => !Number.isInteger(size) || size < 1))) reader.fail("hidden", raw, "comma-separated hidden layers such as 30,100,100-30");
  return options;
}

interface Point {
  eta?: number;
  lambda?: number;
  miniBatch?: number;
  hidden?: number[];
}

function draw(axisOf: Axis | undefined, next: () => number): number | undefined {
  if (!axisOf) return undefined;
  if ("values" in axisOf) return axisOf.values[Math.floor(next() * axisOf.values.length)];
  return Number(Math.exp(Math.log(axisOf.low) + next() * (Math.log(axisOf.high) - Math.log(axisOf.low))).toPrecision(4));
}

function grid(eta?: Axis, lambda?: Axis, mb?: Axis, hidden?: number[][]): Point[] {
  const list = <T>(values: T[] | undefined): (T | undefined)[] => (values && values.length > 0 ? values : [undefined]);
  const values = (a?: Axis) => (a && "values" in a ? a.values : undefined);
  const points: Point[] = [];
  for (const e of list(values(eta))) for (const l of list(values(lambda))) for (const m of list(values(mb))) for (const h of list(hidden)) points.push({ eta: e, lambda: l, miniBatch: m, hidden: h });
  return points;
}

function specAt(base: RunSpec, point: Point, index: number): RunSpec {
  const spec = clone(RunSpecSchema, base);
  // Run names are unique: without --name the evaluator names each trial after its sweep.
  spec.name = base.name ? `${base.name}-${index}` : "";
  if (point.eta !== undefined) spec.eta = point.eta;
  if (point.lambda !== undefined) spec.lambda = point.lambda;
  if (point.miniBatch !== undefined) spec.miniBatch = point.miniBatch;
  if (point.hidden !== undefined) {
    const sizes = base.sizes.length > 0 ? base.sizes : runDefaults.sizes;
    spec.sizes = [sizes[0]!, ...point.hidden, sizes.at(-1)!];
  }
  return spec;
}

export const sweepCommand: Command = {
  name: "sweep",
  summary: "grid or random search over eta, lambda, hidden sizes and mini-batch size",
  usage,
  run: async (argv) => {
    const name = "sweep";
    const { eta: _eta, lambda: _lambda, mb: _mb, ...commonFlags } = specFlags;
    const { values } = parseFlags(name, argv, {
      ...commonFlags,
      ...serverFlag,
      eta: { type: "string" },
      lambda: { type: "string" },
      mb: { type: "string" },
      hidden: { type: "string" },
      random: { type: "string" },
      "sweep-seed": { type: "string" },
      scheduler: { type: "string" },
      "grace-period": { type: "string" },
      "reduction-factor": { type: "string" },
      "min-samples": { type: "string" },
      json: { type: "boolean" },
    });
    const reader = new FlagReader(name);
    const etaAxis = axis(reader, "eta", values.eta, false);
    const lambdaAxis = axis(reader, "lambda", values.lambda, false);
    const mbAxis = axis(reader, "mb", values.mb, true);
    const hidden = hiddenLayers(reader, values.hidden);
    const count = reader.integer("random", values.random);
    if (count !== undefined && (count < 1 || count > maxSweepTrials)) reader.fail("random", values.random!, `a whole number from 1 to ${maxSweepTrials}`);
    const ranges = [etaAxis, lambdaAxis].some((a) => a && "low" in a);
    if (ranges && count === undefined) throw new UsageError("mnistctl sweep: a range LOW:HIGH needs --random N");
    if (count === undefined) {
      // Counted before the grid is built: long lists multiply.
      const lengths = [etaAxis, lambdaAxis, mbAxis].map((a) => (a && "values" in a ? a.values.length : 1));
      const combinations = lengths.reduce((product, length) => product * length, hidden?.length ?? 1);
      if (combinations > maxSweepTrials) throw new UsageError(`mnistctl sweep: ${combinations.toLocaleString("en-US")} runs is too many; at most ${maxSweepTrials}`);
    }
    let points: Point[];
    if (count === undefined) points = grid(etaAxis, lambdaAxis, mbAxis, hidden);
    else {
      const next = splitmix64(reader.bigint("sweep-seed", values["sweep-seed"]) ?? 1n);
      points = Array.from({ length: count }, () => ({
        eta: draw(etaAxis, next),
        lambda: draw(lambdaAxis, next),
        miniBatch: draw(mbAxis, next),
        hidden: hidden?.[Math.floor(next() * hidden.length)],
      }));
    }
    // --eta, --lambda and --mb are the sweep's axes here, not single values of the common spec.
    const base = runSpecFromFlags(name, { ...values, eta: undefined, lambda: undefined, mb: undefined });
    const specs = points.map((point, index) => specAt(base, point, index));
    for (const spec of specs) resolveFlagsSpec(name, spec);
    const scheduler = create(SchedulerSpecSchema, {
      kind: schedulerByName[reader.choice("scheduler", values.scheduler, ["none", "asha", "median"] as const) ?? "none"],
      gracePeriod: reader.integer("grace-period", values["grace-period"]),
      reductionFactor: reader.integer("reduction-factor", values["reduction-factor"]),
      minSamples: reader.integer("min-samples", values["min-samples"]),
    });
    try {
      resolveScheduler(scheduler);
    } catch (error) {
      if (error instanceof InvalidArgument) throw new UsageError(`mnistctl sweep: --${kebab(error.field.replace(/^scheduler\./, ""))}: ${error.message}`);
      throw error;
    }

    return withRunService(name, values, async (client) => {
      const { sweepId, runIds: ids } = await client.launchSweep({ name: base.name, specs, scheduler });
      if (!values.json) process.stdout.write(`sweep ${sweepId}: launched ${ids.length} runs: ${ids.join(" ")}\n`);
      const finished = new Map<string, RunRecord>();
      let sweep: SweepRecord | undefined;
      while (finished.size < ids.length) {
        const latest = await client.getSweep({ sweepId });
        sweep = latest.sweep;
        const { runs } = latest;
        for (const run of runs) {
          if (finished.has(run.runId) || !isTerminal(run.state)) continue;
          finished.set(run.runId, run);
          if (!values.json) process.stdout.write(`${run.runId} ${run.spec?.name} ${stateName[run.state]} after ${run.epochs.length} epochs: best validation accuracy ${percent(run.bestValAccuracy)}\n`);
        }
        if (finished.size < ids.length) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const ranked = ids.map((id) => finished.get(id)!).sort((a, b) => b.bestValAccuracy - a.bestValAccuracy || a.runId.localeCompare(b.runId));
      const rows = ranked.map((run, rank) => {
        const spec = run.spec!;
        return {
          rank: rank + 1,
          run: run.runId,
          name: spec.name,
          eta: spec.eta ?? runDefaults.eta,
          lambda: spec.lambda,
          miniBatch: spec.miniBatch ?? runDefaults.miniBatch,
          sizes: (spec.sizes.length > 0 ? spec.sizes : runDefaults.sizes).join(","),
          epochs: run.epochs.length,
          bestValAccuracy: run.bestValAccuracy,
          testAccuracy: run.testAccuracy,
          state: stateName[run.state],
          stopReason: run.stopReason,
        };
      });
      const trainerEpochs = rows.reduce((sum, row) => sum + row.epochs, 0);
      const stoppedEarly = Object.keys(sweep?.stops ?? {}).length;
      if (values.json) {
        for (const row of rows) process.stdout.write(`${JSON.stringify({ sweep: sweepId, ...row })}\n`);
        process.stdout.write(`${JSON.stringify({ msg: "sweep finished", sweep: sweepId, scheduler: values.scheduler ?? "none", runs: rows.length, trainerEpochs, stoppedByScheduler: stoppedEarly })}\n`);
      } else {
        process.stdout.write(
          `${formatTable(
            ["rank", "run", "name", "eta", "lambda", "mb", "sizes", "epochs", "best val", "test", "state", "stop reason"],
            rows.map((r) => [r.rank, r.run, r.name, r.eta, r.lambda, r.miniBatch, r.sizes, r.epochs, percent(r.bestValAccuracy), percent(r.testAccuracy), r.state, r.stopReason]),
          )}\n`,
        );
        process.stdout.write(`sweep ${sweepId}: ${rows.length} runs, ${trainerEpochs} trainer-epochs in all; the scheduler (${values.scheduler ?? "none"}) stopped ${stoppedEarly}\n`);
      }
      return ranked.some((run) => run.state === RunState.FAILED) ? 1 : 0;
    });
  },
};
