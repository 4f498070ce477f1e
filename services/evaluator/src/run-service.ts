import { bind, GrpcStatusError, notFound, status, statusOf, type ServiceBinding } from "@mnist/grpc";
import { InvalidArgument, invalidArgument } from "@mnist/errors";
import { NetworkChoice, RunService, type EpochProgress, type RunRecord, type RunSpec, type WatchRunResponse } from "@mnist/protocol";
import { checkEta, checkRunId, isTerminal, resolveRunSpec, type SpecLimits } from "@mnist/spec";
import { merge } from "./merge.js";
import type { RunStore } from "./run-store.js";

/** What the public API asks of the part that places and steers runs. */
export interface RunControl {
  stop(run: RunRecord, reason: string): Promise<RunRecord>;
  setLearningRate(run: RunRecord, eta: number): Promise<RunRecord>;
  network(run: RunRecord, choice: NetworkChoice): Promise<{ epoch: number; bytes: Uint8Array }>;
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
const controlCharacter = /\p{Cc}/u;

function checkText(field: string, value: string, maxChars: number): void {
  if (value.length > maxChars || controlCharacter.test(value)) {
    throw invalidArgument(field, value, `at most ${maxChars} characters, none of them control characters`);
  }
}


function checkSpec(spec: RunSpec | undefined, limits: SpecLimits): { spec: RunSpec; eta: number } {
  if (!spec) throw invalidArgument("spec", "(absent)", "a RunSpec");
  checkText("spec.name", spec.name, maxNameChars);
  try {
    return { spec, eta: resolveRunSpec(spec, limits).eta };
  } catch (error) {
    if (error instanceof InvalidArgument) throw error.within("spec.");
    throw error;
  }
}

/** The public gRPC RunService: validation and records here, placement and steering in RunControl. */
export function runService(store: RunStore, control: RunControl, limits: SpecLimits, progressFeed: ProgressFeed): ServiceBinding {
  const existing = async (runId: string) => {
    checkRunId(runId);
    const run = await store.get(runId);
    if (!run) throw notFound("run", runId);
    return run;
  };
  return bind(RunService, {
    async launchRun(request) {
      const { spec, eta } = checkSpec(request.spec, limits);
      const run = await store.create(spec, eta);
      return { runId: run.runId, state: run.state };
    },
    async getRun({ runId }) {
      return { run: await existing(runId) };
    },
    async listRuns() {
      return { runs: await store.list() };
    },
    async *watchRun({ runId, progress }, context) {
      await existing(runId);
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
    async stopRun({ runId, reason }) {
      checkText("reason", reason, maxReasonChars);
      const run = await existing(runId);
      if (isTerminal(run.state)) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(runId)} has already ended`);
      return { run: await control.stop(run, reason || "stopped by request") };
    },
    async setLearningRate({ runId, eta }) {
      checkEta("eta", eta);
      const run = await existing(runId);
      if (isTerminal(run.state)) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(runId)} has already ended`);
      return { run: await control.setLearningRate(run, eta) };
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
  });
}
