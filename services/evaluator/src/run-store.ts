import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RunRecordSchema, RunState, type RunRecord, type RunSpec } from "@mnist/protocol";
import { isTerminal } from "@mnist/training";
import { randomBytes } from "node:crypto";
import { kvKeys } from "@mnist/cluster";
import type { KV, NatsConnection } from "nats";

export const runsBucket = "runs";

/** Sortable by creation time, unique without coordination between evaluators. */
export function newRunId(now = Date.now()): string {
  return `run-${now.toString(36)}-${randomBytes(3).toString("hex")}`;
}

/**
 * Run records in a JetStream KV bucket, so a restarted evaluator carries on where the last
 * one stopped. Updates are compare-and-set on the entry's revision: concurrent writers
 * (a gRPC StopRun racing an epoch decision) retry instead of overwriting each other.
 */
export class RunStore {
  private constructor(
    private readonly nats: NatsConnection,
    private readonly kv: KV,
    private readonly onWatchError?: (runId: string, error: unknown) => void,
  ) {}

  /** `onWatchError` hears of each watch the server dropped (and that is opened again). */
  static async open(nats: NatsConnection, options: { onWatchError?(runId: string, error: unknown): void } = {}): Promise<RunStore> {
    return new RunStore(nats, await nats.jetstream().views.kv(runsBucket, { history: 1 }), options.onWatchError);
  }

  async create(spec: RunSpec, eta: number): Promise<RunRecord> {
    const record = create(RunRecordSchema, { runId: newRunId(), spec, state: RunState.QUEUED, createdAt: timestampNow(), eta, etaHistory: [{ epoch: 0, eta }] });
    await this.kv.create(record.runId, toBinary(RunRecordSchema, record));
    return record;
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const entry = await this.kv.get(runId);
    return entry && entry.operation === "PUT" ? fromBinary(RunRecordSchema, entry.value) : undefined;
  }

  async list(): Promise<RunRecord[]> {
    const records: RunRecord[] = [];
    for (const key of await kvKeys(this.nats, runsBucket)) {
      const record = await this.get(key);
      if (record) records.push(record);
    }
    return records.sort((a, b) => a.runId.localeCompare(b.runId));
  }

  /**
   * Applies `change` to the latest record and writes it back (not when `change` returns false);
   * undefined if the run does not exist.
   */
  async update(runId: string, change: (record: RunRecord) => void | false): Promise<RunRecord | undefined> {
    for (;;) {
      const entry = await this.kv.get(runId);
      if (!entry || entry.operation !== "PUT") return undefined;
      const record = fromBinary(RunRecordSchema, entry.value);
      if (change(record) === false) return record;
      try {
        await this.kv.update(runId, toBinary(RunRecordSchema, record), entry.revision);
        return record;
      } catch (error) {
        if (!String(error).includes("wrong last sequence")) throw error;
      }
    }
  }

  /**
   * The run's record now and after every change, until it ends or `signal` aborts. A watch the
   * server drops (NATS restarting: TIMEOUT) is opened again; it starts with the current record, so
   * a consumer sees every state, some twice.
   */
  async *watch(runId: string, signal: AbortSignal): AsyncGenerator<RunRecord> {
    while (!signal.aborted) {
      let watcher: Awaited<ReturnType<KV["watch"]>> | undefined;
      const stop = () => watcher?.stop();
      signal.addEventListener("abort", stop, { once: true });
      try {
        watcher = await this.kv.watch({ key: runId });
        for await (const entry of watcher) {
          if (entry.operation !== "PUT") continue;
          const record = fromBinary(RunRecordSchema, entry.value);
          yield record;
          if (isTerminal(record.state)) return;
        }
      } catch (error) {
        if (signal.aborted) return;
        this.onWatchError?.(runId, error);
      } finally {
        signal.removeEventListener("abort", stop);
        watcher?.stop();
      }
      await new Promise((resolve) => setTimeout(resolve, watchRetryMs));
    }
  }
}

/** How long a dropped watch waits before it is opened again. */
const watchRetryMs = 250;
