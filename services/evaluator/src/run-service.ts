import { clone, create } from "@bufbuild/protobuf";
import { bind, GrpcStatusError, notFound, status, statusOf, type CallContext, type ServiceBinding, type ServiceImpl } from "@mnist/grpc";
import { InvalidArgument, invalidArgument } from "@mnist/errors";
import { Decision, NetworkChoice, RUN_ID_PATTERN, RunService, RunState, SchedulerSpecSchema, StoppingPolicySchema, type EpochProgress, type RunRecord, type RunSpec, type StoppingPolicy, type WatchRunResponse } from "@mnist/protocol";
import { checkEta, checkRunId, isTerminal, maxSweepTrials, runDefaults, replayDecisions, resolveRunSpec, resolveScheduler, resolveStopping, type ResolvedRunSpec, type SpecLimits, type StoppingRules } from "@mnist/spec";
import { decisionOf, evaluationFigures } from "./policy-record.js";
import { merge } from "./merge.js";
import type { LiveProgress } from "./live-progress.js";
import type { RunStore } from "./run-store.js";
import type { SweepStore } from "./sweep-store.js";

/** A change to a run's steering, checked: the whole stopping policy in force after it, and/or eta. */
export interface RunChange {
  stopping?: StoppingPolicy;
  eta?: number;
  /** What changed, as key=value pairs, for the audit trail. */
  detail: string;
  reason: string;
}

/** What the public API asks of the part that places and steers runs. */
export interface RunControl {
  stop(run: RunRecord, reason: string, actor: string): Promise<RunRecord>;
  /** Pauses (paused true) or resumes the run, with an entry in its audit trail. */
  pause(run: RunRecord, paused: boolean, reason: string, actor: string): Promise<RunRecord>;
  update(run: RunRecord, change: RunChange, actor: string): Promise<RunRecord>;
  network(run: RunRecord, choice: NetworkChoice): Promise<{ epoch: number; bytes: Uint8Array }>;
  /** Removes the run's checkpoints; how many objects there were. */
  deleteCheckpoints(runId: string): Promise<number>;
}

/** A run's in-epoch progress reports until `signal` aborts. */
export type ProgressFeed = (runId: string, signal: AbortSignal) => AsyncIterable<EpochProgress>;

type WatchEvent = WatchRunResponse["event"];

/**
 * Limits on what a client writes into a run record: the record travels whole in every GetRun,
 * ListRuns and watch, and a NATS message holds it, so its free text is bounded; control characters
 * would garble `mnistctl list` and the logs.
 */
const maxNameChars = 256;
const maxReasonChars = 1_000;
/**
 * Characters that would garble or spoof what a person reads: control characters, format characters
 * (bidirectional overrides such as U+202E that reverse what follows, zero-width spaces and joiners
 * that make two names look alike), lone surrogates (from JSON) and U+FFFD (what a lone surrogate or
 * bad UTF-8 becomes on the wire: refused rather than stored as something the client did not send).
 */
const unreadable = /[\p{Cc}\p{Cf}\p{Cs}\uFFFD]/u;

function checkText(field: string, value: string, maxChars: number): void {
  if (value.length > maxChars || unreadable.test(value)) {
    throw invalidArgument(field, value, `at most ${maxChars} characters, none of them control, format (bidirectional, zero-width) or replacement characters`);
  }
}

/** Metadata a client may send to name itself in the audit trail (mnistctl sends user@host). */
export const actorHeader = "x-mnist-actor";
const maxActorChars = 128;

/** Who made a call, for the audit trail: the name the client sends, and its address. */
function actorOf(context: CallContext): string {
  const declared = context.metadata.get(actorHeader)[0];
  const name = typeof declared === "string" ? declared : "";
  checkText(actorHeader, name, maxActorChars);
  return `${name || "anonymous"} (${context.peer})`;
}

/** What UpdateRun may change: eta, and each field of the stopping policy. */
const updatablePaths = ["eta", ...StoppingPolicySchema.fields.map((field) => `stopping.${field.name}`)];

/** The field (its name in StoppingPolicy and StoppingRules alike) of an updatable "stopping.<field>" path. */
function fieldOf(path: string): keyof StoppingRules & keyof StoppingPolicy {
  return StoppingPolicySchema.fields.find((field) => `stopping.${field.name}` === path)!.localName as keyof StoppingRules & keyof StoppingPolicy;
}

/**
 * The stopping policy in force after the change: the run's current one with the masked fields
 * taken from the request (an optional field the request leaves unset goes back to its default).
 */
function changedStopping(current: StoppingPolicy | undefined, requested: StoppingPolicy | undefined, paths: string[]): StoppingPolicy {
  const changed = clone(StoppingPolicySchema, current ?? create(StoppingPolicySchema));
  const source = requested ?? create(StoppingPolicySchema);
  for (const path of paths) {
    if (!path.startsWith("stopping.")) continue;
    const field = fieldOf(path);
    (changed as unknown as Record<string, unknown>)[field] = (source as unknown as Record<string, unknown>)[field];
  }
  return changed;
}

/** A spec a client sent, as `field` of its request (`spec`, `specs[3]`): errors name the field within it. */
function checkSpec(spec: RunSpec | undefined, limits: SpecLimits, field = "spec"): { spec: RunSpec; eta: number } {
  if (!spec) throw invalidArgument(field, "(absent)", "a RunSpec");
  checkText(`${field}.name`, spec.name, maxNameChars);
  try {
    return { spec, eta: resolveRunSpec(spec, limits).eta };
  } catch (error) {
    if (error instanceof InvalidArgument) throw error.within(`${field}.`);
    throw error;
  }
}

/** ALREADY_EXISTS when `name` is another run's name or id (run names are unique, and usable wherever an id is). */
function checkNameFree(store: RunStore, name: string, field: string): void {
  if (name === "") return;
  const holder = store.runIdOf(name);
  if (holder !== undefined) throw new GrpcStatusError(status.ALREADY_EXISTS, `${field}: ${JSON.stringify(name)} is the name of run ${holder} already; run names are unique (mnistctl delete frees one)`);
}

/** A stored run's spec, resolved; a record whose spec no longer resolves cannot be steered. */
function specOf(run: RunRecord): ResolvedRunSpec {
  try {
    return resolveRunSpec(run.spec!);
  } catch (error) {
    if (!(error instanceof InvalidArgument)) throw error;
    throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(run.runId)} has a spec that does not resolve: ${error.message}`);
  }
}

/** What `rules` would have decided on the run's recorded epochs (UpdateRun's dry run). */
function replay(run: RunRecord, spec: ResolvedRunSpec, rules: StoppingRules) {
  const figures = run.epochs.map((metrics) => evaluationFigures(metrics, spec));
  return replayDecisions(spec.eta, rules, figures, spec.epochs).map((decided) => ({
    epoch: decided.epoch,
    recorded: run.epochs[decided.epoch]?.decision ?? Decision.UNSPECIFIED,
    replayed: decisionOf[decided.decision],
    eta: decided.eta,
    restoreEpoch: decided.restoreEpoch,
    reason: decided.reason ?? "",
  }));
}

/**
 * ListRuns' page size when the request names none, and the most it may ask for; a page of long
 * runs ends sooner, at pageBytes of records, so that it stays well under gRPC's 4 MiB.
 */
const defaultPageSize = 100;
const maxPageSize = 1_000;
const pageBytes = 2 * 1024 * 1024;


/** The public gRPC RunService, bound for the gRPC host. */
export function runService(impl: RunServiceImpl): ServiceBinding {
  return bind(RunService, impl);
}

export type RunServiceImpl = ServiceImpl<typeof RunService>;

/**
 * RunService's handlers: validation and records here, placement and steering in RunControl. The
 * gRPC host and the dashboard both call these, so a stop from a browser is checked and recorded
 * exactly as one from mnistctl.
 */
export function runServiceImpl(store: RunStore, sweeps: SweepStore, control: RunControl, limits: SpecLimits, progressFeed: ProgressFeed, live?: LiveProgress): RunServiceImpl {
  // A running run's answer carries its epoch in training (never stored with the record).
  const withProgress = (run: RunRecord): RunRecord => {
    const cap = run.spec?.epochs ?? runDefaults.epochs;
    const progress = live?.of(run, cap);
    if (progress) run.progress = progress;
    return run;
  };
  // A run by its id or its name: a name is resolved first, so a name that looks like an id still works.
  const existing = async (reference: string) => {
    const runId = store.runIdOf(reference) ?? checkRunId(reference);
    const run = await store.get(runId);
    if (!run) throw notFound("run", reference);
    return run;
  };
  // One that has not ended: stop, pause, resume and a new learning rate are for queued and running runs only.
  const activeRun = async (reference: string) => {
    const run = await existing(reference);
    if (isTerminal(run.state)) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(reference)} has already ended`);
    return run;
  };
  const pauseOrResume =
    (paused: boolean) =>
    async ({ runId, reason }: { runId: string; reason: string }, context: CallContext) => {
      checkText("reason", reason, maxReasonChars);
      const actor = actorOf(context);
      return { run: await control.pause(await activeRun(runId), paused, reason, actor) };
    };
  return {
    async launchRun(request, context) {
      const { spec, eta } = checkSpec(request.spec, limits);
      checkNameFree(store, spec.name, "spec.name");
      const run = await store.create(spec, eta, actorOf(context));
      return { runId: run.runId, state: run.state };
    },
    async launchSweep({ name, specs, scheduler }, context) {
      checkText("name", name, maxNameChars);
      if (specs.length === 0 || specs.length > maxSweepTrials) throw invalidArgument("specs", `${specs.length} specs`, `1 to ${maxSweepTrials} run specs, one per trial`);
      const checked = specs.map((spec, index) => checkSpec(spec, limits, `specs[${index}]`));
      const names = new Map<string, number>();
      specs.forEach((spec, index) => {
        if (spec.name === "") return;
        const earlier = names.get(spec.name);
        if (earlier !== undefined) throw new GrpcStatusError(status.ALREADY_EXISTS, `specs[${index}].name: ${JSON.stringify(spec.name)} is specs[${earlier}]'s too; run names are unique`);
        names.set(spec.name, index);
        checkNameFree(store, spec.name, `specs[${index}].name`);
      });
      resolveScheduler(scheduler);
      const actor = actorOf(context);
      const sweep = await sweeps.create(name, scheduler ?? create(SchedulerSpecSchema));
      const runIds: string[] = [];
      // A trial without a name of its own is called after its sweep: sweep-…-0, sweep-…-1, …
      for (const [index, { spec, eta }] of checked.entries()) {
        if (spec.name === "") spec.name = `${sweep.sweepId}-${index}`;
        runIds.push((await store.create(spec, eta, actor, sweep.sweepId)).runId);
      }
      await sweeps.update(sweep.sweepId, (record) => {
        record.runIds = runIds;
      });
      return { sweepId: sweep.sweepId, runIds };
    },
    async getSweep({ sweepId }) {
      if (!RUN_ID_PATTERN.test(sweepId)) throw invalidArgument("sweepId", sweepId, "a sweep id such as sweep-mwzfv448-1b187e (mnistctl sweep prints it)");
      const sweep = await sweeps.get(sweepId);
      if (!sweep) throw notFound("sweep", sweepId);
      const runs = (await Promise.all(sweep.runIds.map((runId) => store.get(runId)))).filter((run): run is RunRecord => run !== undefined);
      return { sweep, runs };
    },
    async getRun({ runId }) {
      return { run: withProgress(await existing(runId)) };
    },
    async listRuns({ pageSize, pageToken, state, namePrefix, sweepId }) {
      if (pageSize > maxPageSize) throw invalidArgument("pageSize", pageSize, `1 to ${maxPageSize}, or 0 for ${defaultPageSize}`);
      if (RunState[state] === undefined) throw invalidArgument("state", state, "a RunState");
      const after = pageToken === "" ? "" : Buffer.from(pageToken, "base64url").toString("utf8");
      if (pageToken !== "" && !RUN_ID_PATTERN.test(after)) throw invalidArgument("pageToken", pageToken, "empty, or the next_page_token of an earlier answer");
      checkText("namePrefix", namePrefix, maxNameChars);
      const keep = (run: RunRecord) =>
        (state === RunState.UNSPECIFIED || run.state === state) && (run.spec?.name ?? "").startsWith(namePrefix) && (sweepId === "" || run.sweepId === sweepId);
      const { runs, more } = await store.page(pageSize || defaultPageSize, after, keep, pageBytes);
      return { runs: runs.map(withProgress), nextPageToken: more ? Buffer.from(runs.at(-1)!.runId).toString("base64url") : "" };
    },
    async *watchRun({ runId: reference, progress }, context) {
      const { runId } = await existing(reference);
      // Ends both feeds: when the client goes away, and when the run has ended.
      const watching = new AbortController();
      const cancel = () => watching.abort();
      context.signal.addEventListener("abort", cancel, { once: true });
      async function* records(): AsyncGenerator<WatchEvent> {
        let sent = 0;
        for await (const run of store.watch(runId, watching.signal)) {
          for (; sent < run.epochs.length; sent++) yield { case: "epoch", value: run.epochs[sent]! };
          if (isTerminal(run.state)) yield { case: "finished", value: run };
        }
      }
      async function* progressEvents(): AsyncGenerator<WatchEvent> {
        for await (const value of progressFeed(runId, watching.signal)) yield { case: "progress", value };
      }
      try {
        for await (const event of merge(progress ? [records(), progressEvents()] : [records()])) {
          yield { event };
          if (event.case === "finished") return;
        }
      } finally {
        watching.abort();
        context.signal.removeEventListener("abort", cancel);
      }
    },
    async stopRun({ runId, reason }, context) {
      checkText("reason", reason, maxReasonChars);
      const actor = actorOf(context);
      return { run: await control.stop(await activeRun(runId), reason || "stopped by request", actor) };
    },
    pauseRun: pauseOrResume(true),
    resumeRun: pauseOrResume(false),
    async deleteRun({ runId: reference }, context) {
      const actor = actorOf(context);
      const run = await existing(reference);
      // Stopped first, so that no trainer writes a checkpoint after its record is gone; marked, so
      // that an evaluator stopped in the middle leaves the run (to finish deleting) or nothing.
      if (!isTerminal(run.state)) await control.stop(run, "deleted", actor);
      await store.update(run.runId, (record) => {
        record.deleting = true;
      });
      const checkpointsDeleted = await control.deleteCheckpoints(run.runId);
      await store.remove(run.runId);
      return { runId: run.runId, checkpointsDeleted };
    },
    async setLearningRate({ runId, eta }, context) {
      checkEta("eta", eta);
      const actor = actorOf(context);
      return { run: await control.update(await activeRun(runId), { eta, detail: `eta=${eta}`, reason: "" }, actor) };
    },
    async updateRun({ runId, stopping, eta, updateMask, dryRun, reason }, context) {
      if (store.runIdOf(runId) === undefined) checkRunId(runId);
      checkText("reason", reason, maxReasonChars);
      const actor = actorOf(context);
      const paths = updateMask?.paths ?? [];
      if (paths.length === 0) throw invalidArgument("update_mask.paths", paths, `one or more of ${updatablePaths.join(", ")}`);
      paths.forEach((path, index) => {
        if (!updatablePaths.includes(path)) throw invalidArgument(`update_mask.paths[${index}]`, path, `one of ${updatablePaths.join(", ")}`);
      });
      if (paths.includes("eta")) checkEta("eta", eta);
      // The request's own values first, whatever the run: each is checked on its own.
      resolveStopping(changedStopping(undefined, stopping, paths), limits);
      const run = await existing(runId);
      if (!dryRun && isTerminal(run.state)) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(runId)} has already ended`);
      const spec = specOf(run);
      const policy = changedStopping(run.stopping ?? run.spec?.stopping, stopping, paths);
      const rules = resolveStopping(policy, limits);
      const detail = paths.map((path) => (path === "eta" ? `eta=${eta}` : `${path.slice("stopping.".length)}=${String(rules[fieldOf(path)])}`)).join(", ");
      if (dryRun) return { run, replay: replay(run, spec, rules) };
      const change: RunChange = { detail, reason, ...(paths.some((path) => path.startsWith("stopping.")) ? { stopping: policy } : {}), ...(paths.includes("eta") ? { eta } : {}) };
      return { run: await control.update(run, change, actor) };
    },
    async getNetwork({ runId, choice }) {
      if (choice !== NetworkChoice.UNSPECIFIED && choice !== NetworkChoice.BEST && choice !== NetworkChoice.LAST) {
        throw invalidArgument("choice", choice, "BEST or LAST");
      }
      const run = await existing(runId);
      const { epoch, bytes } = await control.network(run, choice).catch((error: unknown) => {
        // Stored bytes gone bad: the store says what it found, this says whose network it was.
        const known = statusOf(error);
        if (known?.code !== status.DATA_LOSS) throw error;
        const which = choice === NetworkChoice.LAST ? "last epoch" : `best epoch (${run.bestEpoch})`;
        throw new GrpcStatusError(status.DATA_LOSS, `the checkpoint of run ${runId}'s ${which} is unreadable: ${known.details}`);
      });
      return { epoch, network: bytes, spec: run.spec };
    },
  };
}
