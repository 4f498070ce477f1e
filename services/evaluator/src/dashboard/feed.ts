import type { ServerResponse } from "node:http";
import type { AugmentReplicaStats, EpochProgress, RunRecord, TrainerInfo } from "@mnist/protocol";
import { isTerminal } from "@mnist/spec";
import { estimate } from "../live-progress.js";
import { clusterView, progressView, runSummary, type ClusterView, type ProgressView, type RunSummary } from "./views.js";

/** A client further behind than this (a stalled browser tab) is dropped; its EventSource reconnects and starts from a snapshot. */
const maxBufferedBytes = 4 * 1024 * 1024;
/** A comment line this often keeps idle connections open through proxies. */
const keepAliveMs = 15_000;

/** Where the feed reads the cluster's state from when it changes. */
export interface ClusterSource {
  trainers(): TrainerInfo[];
  replicas(): AugmentReplicaStats[];
}

/**
 * The dashboard's live state, fed by the evaluator's own watch of the run records, the trainers'
 * heartbeats, the replicas' reports and the trainers' progress reports, and passed on to every
 * browser as Server-Sent Events: `snapshot` when it connects, then `run` (a run's row changed),
 * `progress` (an epoch's progress) and `cluster`.
 */
export class DashboardFeed {
  private readonly summaries = new Map<string, RunSummary>();
  private readonly progress = new Map<string, ProgressView>();
  /** Each run's epoch cap and its finished epochs' training seconds, for the time left in a progress report. */
  private readonly pace = new Map<string, { maxEpochs: number; trainSeconds: number[] }>();
  private readonly clients = new Set<ServerResponse>();
  private readonly keepAlive: NodeJS.Timeout;
  private cluster: ClusterView = { trainers: [], augment: [] };

  constructor(private readonly source: ClusterSource) {
    this.keepAlive = setInterval(() => this.send(": keep-alive\n\n"), keepAliveMs);
    this.keepAlive.unref();
  }

  /** Every new revision of a run's record. */
  record(record: RunRecord): void {
    const summary = runSummary(record);
    this.summaries.set(summary.id, summary);
    this.pace.set(summary.id, { maxEpochs: summary.maxEpochs, trainSeconds: record.epochs.map((epoch) => epoch.trainSeconds) });
    if (isTerminal(record.state) || summary.epochs > (this.progress.get(summary.id)?.epoch ?? Infinity)) this.progress.delete(summary.id);
    this.broadcast("run", summary);
  }

  /** A run's record was removed. */
  removed(runId: string): void {
    this.summaries.delete(runId);
    this.progress.delete(runId);
    this.pace.delete(runId);
    this.broadcast("removed", { id: runId });
  }

  /** A trainer's report of how far an epoch has come. */
  epochProgress(progress: EpochProgress): void {
    if (isTerminalState(this.summaries.get(progress.runId))) return;
    const pace = this.pace.get(progress.runId);
    const view = progressView(progress, estimate(progress, pace?.trainSeconds ?? [], pace?.maxEpochs ?? progress.epoch + 1));
    this.progress.set(view.id, view);
    this.broadcast("progress", view);
  }

  /** A trainer came, went or changed, or a replica reported. */
  clusterChanged(): void {
    this.cluster = clusterView(this.source.trainers(), this.source.replicas());
    this.broadcast("cluster", this.cluster);
  }

  runs(): RunSummary[] {
    return [...this.summaries.values()].sort((a, b) => b.id.localeCompare(a.id));
  }

  clusterState(): ClusterView {
    return this.cluster;
  }

  /** Makes `response` an event stream: a snapshot first, then every change. */
  subscribe(response: ServerResponse): void {
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    this.clients.add(response);
    response.on("close", () => this.clients.delete(response));
    this.write(response, event("snapshot", { runs: this.runs(), progress: [...this.progress.values()], cluster: this.cluster }));
  }

  /** Ends every event stream (the evaluator is stopping). */
  close(): void {
    clearInterval(this.keepAlive);
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private broadcast(name: string, data: unknown): void {
    if (this.clients.size > 0) this.send(event(name, data));
  }

  private send(text: string): void {
    for (const client of this.clients) this.write(client, text);
  }

  private write(client: ServerResponse, text: string): void {
    if (client.writableLength > maxBufferedBytes) {
      this.clients.delete(client);
      client.destroy();
      return;
    }
    client.write(text);
  }
}

function isTerminalState(summary: RunSummary | undefined): boolean {
  return summary !== undefined && summary.state !== "queued" && summary.state !== "running";
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
