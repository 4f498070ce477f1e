import { InvalidArgument } from "@mnist/errors";
import { Scheduler, type SchedulerSpec } from "@mnist/protocol";

// Trial schedulers of a sweep: which trials to stop early, from the results all of the sweep's
// trials have reported so far. Pure, on plain data the evaluator keeps in the sweep's record.

export type SchedulerName = "none" | "asha" | "median";

export interface SchedulerRules {
  name: SchedulerName;
  /** ASHA's first rung, and the epochs median stopping waits before it judges. */
  gracePeriod: number;
  /** ASHA's η: rungs at gracePeriod × reductionFactor^k epochs, the top 1/reductionFactor go on. */
  reductionFactor: number;
  /** Median stopping judges a trial only against at least this many others (Ray Tune's min_samples_required). */
  minSamples: number;
}

export const schedulerDefaults = { gracePeriod: 1, reductionFactor: 3, minSamples: 3 } as const;

/** The most trials one sweep may launch (LaunchSweep's limit, which the CLI checks before it builds them). */
export const maxSweepTrials = 1_000;

const schedulerNames: Record<Scheduler, SchedulerName | undefined> = {
  [Scheduler.UNSPECIFIED]: "none",
  [Scheduler.NONE]: "none",
  [Scheduler.ASHA]: "asha",
  [Scheduler.MEDIAN]: "median",
};
export const schedulerByName: Record<SchedulerName, Scheduler> = { none: Scheduler.NONE, asha: Scheduler.ASHA, median: Scheduler.MEDIAN };

/** The scheduler with its defaults applied, each field checked (InvalidArgument naming `scheduler.…`). */
export function resolveScheduler(spec: SchedulerSpec | undefined): SchedulerRules {
  const name = schedulerNames[spec?.kind ?? Scheduler.UNSPECIFIED];
  if (name === undefined) throw new InvalidArgument("scheduler.kind", spec?.kind, "NONE (1), ASHA (2) or MEDIAN (3)");
  const integer = (field: keyof SchedulerRules & keyof SchedulerSpec, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgument(`scheduler.${field}`, value, `an integer from ${min} to ${max}`);
    return value;
  };
  return {
    name,
    gracePeriod: integer("gracePeriod", spec?.gracePeriod ?? schedulerDefaults.gracePeriod, 1, 10_000),
    reductionFactor: integer("reductionFactor", spec?.reductionFactor ?? schedulerDefaults.reductionFactor, 2, 100),
    minSamples: integer("minSamples", spec?.minSamples ?? schedulerDefaults.minSamples, 1, 1_000),
  };
}

/** One rung of ASHA: the trials that reached it, in the order they did, with their results. */
export interface Rung {
  /** Epochs trained when a trial reaches the rung. */
  epochs: number;
  entries: { run: string; value: number }[];
}

export interface SweepState {
  /** Each trial's results, one per epoch (higher is better: accuracy, or minus the cost). */
  results: Record<string, number[]>;
  rungs: Rung[];
  /** The trials the scheduler stopped: at which epoch, and why. */
  stops: Record<string, { epoch: number; reason: string }>;
}

export function emptySweepState(): SweepState {
  return { results: {}, rungs: [], stops: {} };
}

export interface SchedulerVerdict {
  stop: boolean;
  reason?: string;
}

/** ASHA's rungs for trials of `epochs` epochs: gracePeriod × reductionFactor^k epochs, short of the last epoch. */
export function ashaRungs(rules: SchedulerRules, epochs: number): number[] {
  const rungs: number[] = [];
  for (let at = rules.gracePeriod; at < epochs; at *= rules.reductionFactor) rungs.push(at);
  return rungs;
}

/** numpy's percentile with linear interpolation, q in [0, 100]. */
export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = ((sorted.length - 1) * q) / 100;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

const isNumber = (value: number) => !Number.isNaN(value);

/**
 * A trial's result for one epoch, judged by the sweep's scheduler. ASHA (as Ray Tune's
 * AsyncHyperBandScheduler): a trial reaching a rung goes on only if its result is at least the
 * (1 - 1/η) quantile of the results recorded at that rung before it, so the first trials to reach
 * a rung always go on and no trial waits for others. Median stopping (Golovin et al., Vizier; Ray
 * Tune's MedianStoppingRule): from the grace period on, a trial stops when its best result so far
 * is below the median of the other trials' running averages at that epoch, once at least
 * minSamples others have reached it. A result reported again (an evaluator restart) gets the
 * verdict it had. `format` shows a result in reasons.
 */
export function schedule(
  state: SweepState,
  rules: SchedulerRules,
  run: string,
  epoch: number,
  value: number,
  epochs: number,
  format: (value: number) => string,
): { state: SweepState; verdict: SchedulerVerdict } {
  const history = state.results[run] ?? [];
  if (history.length > epoch) {
    const stopped = state.stops[run];
    return { state, verdict: stopped?.epoch === epoch ? { stop: true, reason: stopped.reason } : { stop: false } };
  }
  const results = { ...state.results, [run]: [...history, value] };
  let rungs = state.rungs;
  let reason: string | undefined;
  if (rules.name === "asha") ({ rungs, reason } = asha(state.rungs, rules, run, epoch + 1, value, epochs, format));
  else if (rules.name === "median") reason = medianStop(results, rules, run, epoch + 1, format);
  const stops = reason === undefined ? state.stops : { ...state.stops, [run]: { epoch, reason } };
  return { state: { results, rungs, stops }, verdict: reason === undefined ? { stop: false } : { stop: true, reason } };
}

/** The rungs with the result recorded at its rung, if the trial has reached one, and the reason to stop it, if any. */
function asha(
  rungs: Rung[],
  rules: SchedulerRules,
  run: string,
  trained: number,
  value: number,
  epochs: number,
  format: (value: number) => string,
): { rungs: Rung[]; reason?: string } {
  if (!ashaRungs(rules, epochs).includes(trained)) return { rungs };
  const rung = rungs.find((candidate) => candidate.epochs === trained) ?? { epochs: trained, entries: [] };
  const earlier = rung.entries.map((entry) => entry.value).filter(isNumber);
  const updated = [...rungs.filter((other) => other !== rung), { epochs: trained, entries: [...rung.entries, { run, value }] }].sort((a, b) => a.epochs - b.epochs);
  if (Number.isNaN(value)) return { rungs: updated, reason: `ASHA: no result at the rung of ${trained} epochs` };
  if (earlier.length === 0) return { rungs: updated };
  const cutoff = percentile(earlier, (1 - 1 / rules.reductionFactor) * 100);
  if (value >= cutoff) return { rungs: updated };
  return {
    rungs: updated,
    reason: `ASHA: ${format(value)} at the rung of ${trained} epochs is below the top 1/${rules.reductionFactor} of the ${earlier.length} trials there before it (cutoff ${format(cutoff)})`,
  };
}

/** The reason to stop the trial by the median stopping rule, if any. */
function medianStop(results: SweepState["results"], rules: SchedulerRules, run: string, trained: number, format: (value: number) => string): string | undefined {
  if (trained < rules.gracePeriod) return undefined;
  const mine = results[run]!.filter(isNumber);
  const best = mine.length > 0 ? Math.max(...mine) : Number.NaN;
  const averages = Object.entries(results)
    .filter(([other, values]) => other !== run && values.length >= trained)
    .map(([, values]) => values.slice(0, trained).reduce((sum, result) => sum + result, 0) / trained)
    .filter(isNumber);
  if (averages.length < rules.minSamples) return undefined;
  const middle = percentile(averages, 50);
  if (best >= middle) return undefined;
  return `median stopping: best result ${format(best)} in ${trained} epochs is below the median ${format(middle)} of ${averages.length} other trials' running averages`;
}
