import { bind, GrpcStatusError, invalidArgument, notFound, status, type ServiceBinding } from "@mnist/grpc";
import { NetworkChoice, RunService, type EpochProgress, type RunRecord, type WatchRunResponse } from "@mnist/protocol";
import { isTerminal, resolveRunSpec, SpecError, type SpecLimits } from "@mnist/training";
import { merge } from "./merge.js";
import type { RunStore } from "./run-store.js";

/** What the public API asks of the part that places and steers runs. */
export interface RunControl {
  /** A run was queued: place it when a trainer is free. */
  queued(runId: string): void;
  stop(run: RunRecord, reason: string): Promise<RunRecord>;
  setLearningRate(run: RunRecord, eta: number): Promise<RunRecord>;
  network(run: RunRecord, choice: NetworkChoice): Promise<{ epoch: number; bytes: Uint8Array }>;
}

/** A run's in-epoch progress reports until `signal` aborts. */
export type ProgressFeed = (runId: string, signal: AbortSignal) => AsyncIterable<EpochProgress>;

type WatchEvent = WatchRunResponse["event"];

/** The public gRPC RunService: validation and records here, placement and steering in RunControl. */
export function runService(store: RunStore, control: RunControl, limits: SpecLimits, progressFeed: ProgressFeed): ServiceBinding {
  const existing = async (runId: string) => {
    const run = await store.get(runId);
    if (!run) throw notFound("run", runId);
    return run;
  };
  return bind(RunService, {
    async launchRun({ spec }) {
      if (!spec) throw invalidArgument("spec", "(absent)", "a RunSpec");
      let eta: number;
      try {
        eta = resolveRunSpec(spec, limits).eta;
      } catch (error) {
        if (error instanceof SpecError) throw invalidArgument(`spec.${error.field}`, error.value, error.allowed);
        throw error;
      }
      const run = await store.create(spec, eta);
      control.queued(run.runId);
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
      const run = await existing(runId);
      if (isTerminal(run.state)) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(runId)} has already ended`);
      return { run: await control.stop(run, reason || "stopped by request") };
    },
    async setLearningRate({ runId, eta }) {
      if (!Number.isFinite(eta) || eta <= 0) throw invalidArgument("eta", eta, "a learning rate greater than 0");
      const run = await existing(runId);
      if (isTerminal(run.state)) throw new GrpcStatusError(status.FAILED_PRECONDITION, `run ${JSON.stringify(runId)} has already ended`);
      return { run: await control.setLearningRate(run, eta) };
    },
    async getNetwork({ runId, choice }) {
      if (choice !== NetworkChoice.UNSPECIFIED && choice !== NetworkChoice.BEST && choice !== NetworkChoice.LAST) {
        throw invalidArgument("choice", choice, "BEST or LAST");
      }
      const run = await existing(runId);
      const { epoch, bytes } = await control.network(run, choice);
      return { epoch, network: bytes, spec: run.spec };
    },
  });
}
