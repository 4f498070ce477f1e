import { InvalidArgument } from "@mnist/errors";
import { createClient, GrpcStatusError, status, type Client, type ClientAccess } from "@mnist/grpc";
import { Decision, epochJson, RunService, RunState, type EpochMetrics, type EpochProgress, type RunRecord } from "@mnist/protocol";
import { clientAccess, connectionFlags, type ConnectionFlags } from "./access.js";
import { UsageError } from "./errors.js";
import { progressLine, StatusLine } from "./progress-bar.js";
import { epochColumns, type EpochRow } from "./epoch-table.js";
import { headerLine, percent, rowLine, type Column } from "./table.js";

export const defaultServer = "localhost:50051";

/** The evaluator's address: --server, else MNISTCTL_SERVER, else localhost:50051. */
export function serverAddress(flag: string | undefined): string {
  const address = flag ?? process.env.MNISTCTL_SERVER ?? defaultServer;
  if (!/^[^\s:/]+:\d{1,5}$/.test(address) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(address)) {
    throw new UsageError(`mnistctl: ${new InvalidArgument("server", address, "host:port, such as localhost:50051").message}`);
  }
  return address;
}

/** --server, --token, --ca, --cert, --key: every cluster command's connection flags. */
export const serverFlag = connectionFlags;

/**
 * Runs `use` with a RunService client, turning gRPC failures into one readable line. `target` is
 * the command's connection flags (or just --server's value, the rest then from MNISTCTL_*), or an
 * address with its access already made (the launcher's).
 */
export async function withRunService<T>(
  command: string,
  target: string | undefined | (ConnectionFlags & { access?: ClientAccess }),
  use: (client: Client<typeof RunService>) => Promise<T>,
): Promise<T> {
  const flags = typeof target === "object" ? target : { server: target };
  const address = serverAddress(flags.server);
  const client = createClient(RunService, address, "access" in flags && flags.access ? flags.access : clientAccess(command, flags));
  try {
    return await use(client);
  } catch (error) {
    if (error instanceof GrpcStatusError) {
      // grpc-js's TLS failures carry OpenSSL's multi-line text: one line, as every error here.
      if (error.code === status.UNAVAILABLE) throw new ClusterError(`mnistctl ${command}: the evaluator at ${address} is unavailable (${error.message.replace(/\s*\n\s*/g, " ").trim()})`);
      if (error.code === status.INVALID_ARGUMENT || error.code === status.NOT_FOUND) throw new UsageError(`mnistctl ${command}: ${error.message}`);
      if (error.code === status.UNAUTHENTICATED) throw new ClusterError(`mnistctl ${command}: UNAUTHENTICATED: ${error.message} (the evaluator at ${address} wants --token or MNISTCTL_TOKEN)`);
      throw new ClusterError(`mnistctl ${command}: ${status[error.code]}: ${error.message}`);
    }
    throw error;
  } finally {
    client.close();
  }
}

/** The cluster refused or failed a request: exit 1 with one line. */
export class ClusterError extends Error {
  override readonly name = "ClusterError";
  readonly exitCode = 1;
}

export const stateName: Record<RunState, string> = {
  [RunState.UNSPECIFIED]: "unknown",
  [RunState.QUEUED]: "queued",
  [RunState.RUNNING]: "running",
  [RunState.FINISHED]: "finished",
  [RunState.STOPPED]: "stopped",
  [RunState.FAILED]: "failed",
};

export const decisionLabel: Record<Decision, string> = {
  [Decision.UNSPECIFIED]: "",
  [Decision.CONTINUE]: "continue",
  [Decision.DECAY_ETA]: "decay-eta",
  [Decision.STOP]: "stop",
};

/** An epoch as the evaluator logs it: its figures (epochJsonFields) and the decision. */
export function epochFields(metrics: EpochMetrics): Record<string, unknown> {
  return { ...epochJson(metrics), decision: decisionLabel[metrics.decision] };
}

export function finishedFields(run: RunRecord): Record<string, unknown> {
  return {
    run: run.runId,
    state: stateName[run.state],
    testAccuracy: run.testAccuracy,
    bestEpoch: run.bestEpoch,
    bestValAccuracy: run.bestValAccuracy,
    stopReason: run.stopReason,
    wallSeconds: run.wallSeconds,
    epochs: run.epochs.length,
    ...(run.error ? { error: run.error } : {}),
  };
}

function epochRow(metrics: EpochMetrics): EpochRow {
  return { ...metrics, decision: decisionLabel[metrics.decision] };
}

/** What follow() reports a run's events to. */
export interface EpochSink {
  /** True when progress reports are wanted, so worth asking the evaluator for. */
  readonly wantsProgress: boolean;
  progress(progress: EpochProgress): void;
  epoch(metrics: EpochMetrics): void;
  finished(run: RunRecord): void;
  /** Called once the watch ends, however it ends. */
  clear(): void;
}

/**
 * Prints epochs as table rows (header first) or JSON lines, as they arrive. On a terminal
 * (`live`), a progress bar for the epoch in training stays below the table.
 */
export class EpochPrinter implements EpochSink {
  private columns: Column<EpochRow>[] | undefined;
  private readonly status: StatusLine | undefined;

  constructor(
    private readonly json: boolean,
    private readonly runId: string,
    live = !json && process.stdout.isTTY === true,
  ) {
    this.status = live ? new StatusLine(process.stdout) : undefined;
  }

  get wantsProgress(): boolean {
    return this.status !== undefined;
  }

  progress(progress: EpochProgress): void {
    this.status?.show(progressLine(progress, process.stdout.columns ?? 80));
  }

  epoch(metrics: EpochMetrics): void {
    if (this.json) {
      process.stdout.write(`${JSON.stringify({ msg: "epoch", run: this.runId, ...epochFields(metrics) })}\n`);
      return;
    }
    const row = epochRow(metrics);
    if (!this.columns) {
      // The validation figures always; the others when the run measures them, as its first epoch shows.
      this.columns = epochColumns((figure) => figure === "valAccuracy" || figure === "valCost" || row[figure] !== undefined);
      this.line(headerLine(this.columns));
    }
    this.line(rowLine(this.columns, row));
  }

  finished(run: RunRecord): void {
    if (this.json) {
      process.stdout.write(`${JSON.stringify({ msg: "run finished", ...finishedFields(run) })}\n`);
      return;
    }
    this.line(summary(run));
  }

  /** Removes the progress bar, if one is showing (before anything else is written). */
  clear(): void {
    this.status?.clear();
  }

  private line(text: string): void {
    if (this.status) this.status.print(text);
    else process.stdout.write(`${text}\n`);
  }
}

export function summary(run: RunRecord): string {
  const parts = [`run ${run.runId} ${stateName[run.state]}`];
  if (run.epochs.length > 0) parts.push(`best validation accuracy ${percent(run.bestValAccuracy)} at epoch ${run.bestEpoch}`);
  if (run.testAccuracy !== undefined) parts.push(`test accuracy ${percent(run.testAccuracy)}`);
  if (run.stopReason) parts.push(`stopped: ${run.stopReason}`);
  if (run.wallSeconds) parts.push(`${run.wallSeconds.toFixed(1)} s`);
  return parts.join("; ");
}

/** How long follow() keeps asking again while the evaluator is unavailable (restarting, NATS restarting). */
const followRetryMs = 120_000;

/**
 * Streams a run's epochs until it ends; returns the final record. A watch cut by an unavailable
 * evaluator is opened again (each epoch is printed once), for up to two minutes.
 */
export async function follow(client: Client<typeof RunService>, runId: string, printer: EpochSink, signal?: AbortSignal): Promise<RunRecord> {
  let printed = -1;
  let unavailableSince: number | undefined;
  try {
    for (;;) {
      try {
        for await (const event of client.watchRun({ runId, progress: printer.wantsProgress }, { signal })) {
          unavailableSince = undefined;
          if (event.event.case === "progress") printer.progress(event.event.value);
          else if (event.event.case === "epoch") {
            if (event.event.value.epoch > printed) printer.epoch(event.event.value);
            printed = Math.max(printed, event.event.value.epoch);
          } else if (event.event.case === "finished") {
            printer.finished(event.event.value);
            return event.event.value;
          }
        }
        throw new ClusterError(`mnistctl: the watch of run ${runId} ended before the run did`);
      } catch (error) {
        if (!(error instanceof GrpcStatusError && error.code === status.UNAVAILABLE) || signal?.aborted) throw error;
        unavailableSince ??= Date.now();
        if (Date.now() - unavailableSince > followRetryMs) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } finally {
    printer.clear();
  }
}
