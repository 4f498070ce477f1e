import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RunEventKind, RunRecordSchema, RunState, RUN_ID_PATTERN, type RunRecord, type RunSpec } from "@mnist/protocol";
import { isTerminal } from "@mnist/spec";
import { randomBytes } from "node:crypto";
import { kvKeys, runsBucket, watchKv } from "@mnist/cluster";
import type { KV, KvEntry, NatsConnection } from "nats";
import { addEvent } from "./audit.js";
import { updateEntry } from "./kv-update.js";

/** Sortable by creation time, unique without coordination between evaluators. */
export function newRunId(now = Date.now(), prefix = "run"): string {
  return `${prefix}-${now.toString(36)}-${randomBytes(3).toString("hex")}`;
}

export interface RunStoreOptions {
  /** Each watch the server dropped (and that is opened again). */
  onWatchError?(key: string, error: unknown): void;
  /** Each entry in the bucket that is not a run record (undecodable, or under another run's key); it is skipped. */
  onInvalid?(key: string, reason: "undecodable" | "invalid", detail: string): void;
  /** A run appeared, or its state changed, by any writer's hand (so placement can act at once). */
  onChange?(record: RunRecord): void;
  /** Every new revision of any run, finished ones included (the dashboard's feed). */
  onRecord?(record: RunRecord): void;
  /** A run's record was removed (DeleteRun). */
  onRemoved?(runId: string): void;
}

/** What the store knows of a run from the last revision it saw: the record itself only while the run is active. */
interface Known {
  revision: number;
  state: RunState;
  active?: RunRecord;
  /** DeleteRun began and has not finished. */
  deleting: boolean;
}

/**
 * Run records in a JetStream KV bucket, so a restarted evaluator carries on where the last
 * one stopped. Updates are compare-and-set on the entry's revision: concurrent writers
 * (a gRPC StopRun racing an epoch decision) retry instead of overwriting each other.
 *
 * The store also keeps the active (queued and running) runs in memory, current from its own
 * writes and from a watch of the bucket (`follow`), so placement never rereads finished runs.
 */
export class RunStore {
  private readonly known = new Map<string, Known>();
  /** Each named run's id by its name, from every record seen (names are unique). */
  private readonly names = new Map<string, string>();
  private readonly watching = new AbortController();
  private following: Promise<void> = Promise.resolve();

  private constructor(
    private readonly nats: NatsConnection,
    private readonly kv: KV,
    private readonly options: RunStoreOptions,
  ) {}

  /** Resolves once the records stored now have been read into `active()`. */
  static async open(nats: NatsConnection, options: RunStoreOptions = {}): Promise<RunStore> {
    const store = new RunStore(nats, await nats.jetstream().views.kv(runsBucket, { history: 1 }), options);
    await new Promise<void>((initialized) => {
      store.following = store.follow(initialized);
    });
    return store;
  }

  /** Stops following the bucket. */
  async close(): Promise<void> {
    this.watching.abort();
    await this.following;
  }

  /** A new queued run; `actor` (who launched it) opens its audit trail. */
  async create(spec: RunSpec, eta: number, actor: string, sweepId = ""): Promise<RunRecord> {
    const record = create(RunRecordSchema, { runId: newRunId(), spec, state: RunState.QUEUED, createdAt: timestampNow(), eta, etaHistory: [{ epoch: 0, eta }], sweepId });
    addEvent(record, RunEventKind.LAUNCH, 0, { actor });
    // Taken at once, before the write: a second launch with the name while this one is stored is refused.
    if (spec.name !== "") this.names.set(spec.name, record.runId);
    let revision: number;
    try {
      revision = await this.kv.create(record.runId, toBinary(RunRecordSchema, record));
    } catch (error) {
      if (this.names.get(spec.name) === record.runId) this.names.delete(spec.name);
      throw error;
    }
    this.note(record.runId, revision, record);
    return record;
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    const entry = await this.kv.get(runId);
    return entry ? this.decode(entry) : undefined;
  }

  /**
   * Up to `limit` records, newest first (ids sort by creation time), starting after the run
   * `after` (exclusive; "" for the newest), those `keep` accepts, and no more than `maxBytes` of
   * them encoded (at least one); `more` when some are left.
   */
  async page(limit: number, after: string, keep: (record: RunRecord) => boolean, maxBytes: number): Promise<{ runs: RunRecord[]; more: boolean }> {
    const keys = (await kvKeys(this.nats, runsBucket)).sort((a, b) => b.localeCompare(a));
    const runs: RunRecord[] = [];
    let bytes = 0;
    for (const key of keys) {
      if (after !== "" && key.localeCompare(after) >= 0) continue;
      const entry = await this.kv.get(key);
      const record = entry ? this.decode(entry) : undefined;
      if (!record || !keep(record)) continue;
      if (runs.length === limit || (runs.length > 0 && bytes + entry!.length > maxBytes)) return { runs, more: true };
      runs.push(record);
      bytes += entry!.length;
    }
    return { runs, more: false };
  }

  /** Removes the run's record (and frees its name); false when there was none. */
  async remove(runId: string): Promise<boolean> {
    if (!(await this.kv.get(runId))) return false;
    await this.kv.delete(runId);
    this.forget(runId);
    return true;
  }

  /** The queued and running runs, oldest first, as of the latest revision seen (no reads). */
  active(): RunRecord[] {
    const runs: RunRecord[] = [];
    for (const { active } of this.known.values()) if (active) runs.push(active);
    return runs.sort((a, b) => a.runId.localeCompare(b.runId));
  }

  /** True while the run has a record, as of the records seen. */
  has(runId: string): boolean {
    return this.known.has(runId);
  }

  /** The runs whose DeleteRun began and did not finish (an evaluator stopped in the middle), as of the records seen. */
  deleting(): string[] {
    return [...this.known].filter(([, known]) => known.deleting).map(([runId]) => runId);
  }

  /** The id of the run called `reference` (by name, or the run with that id), as of the records seen; undefined if none. */
  runIdOf(reference: string): string | undefined {
    return this.names.get(reference) ?? (this.known.has(reference) ? reference : undefined);
  }

  /** True while the run is queued or running, as of the latest revision seen (no read). */
  isActive(runId: string): boolean {
    return this.known.get(runId)?.active !== undefined;
  }

  /**
   * Applies `change` to the latest record and writes it back (not when `change` returns false);
   * undefined if the run does not exist.
   */
  async update(runId: string, change: (record: RunRecord) => void | false): Promise<RunRecord | undefined> {
    const updated = await updateEntry(this.kv, runId, (entry) => this.decode(entry), (record) => toBinary(RunRecordSchema, record), change);
    if (updated?.revision !== undefined) this.note(runId, updated.revision, updated.value);
    return updated?.value;
  }

  /**
   * The run's record now and after every change, until it ends or `signal` aborts. A watch the
   * server drops (NATS restarting: TIMEOUT) is opened again; it starts with the current record, so
   * a consumer sees every state, some twice.
   */
  async *watch(runId: string, signal: AbortSignal): AsyncGenerator<RunRecord> {
    for await (const entry of watchKv(this.kv, runId, signal, { onWatchError: (error) => this.options.onWatchError?.(runId, error) })) {
      const record = this.decode(entry);
      if (!record) continue;
      yield record;
      if (isTerminal(record.state)) return;
    }
  }

  /** Keeps `active()` current from every writer's changes until closed. */
  private async follow(initialized: () => void): Promise<void> {
    const options = { onWatchError: (error: unknown) => this.options.onWatchError?.(">", error), onInitialized: initialized };
    for await (const entry of watchKv(this.kv, ">", this.watching.signal, options)) {
      if (entry.operation !== "PUT") {
        this.forget(entry.key);
        continue;
      }
      const record = this.decode(entry);
      if (record) this.note(entry.key, entry.revision, record);
    }
  }

  /** A removed run: no longer known, its name free. */
  private forget(runId: string): void {
    if (!this.known.delete(runId)) return;
    for (const [name, holder] of this.names) if (holder === runId) this.names.delete(name);
    this.options.onRemoved?.(runId);
  }

  /**
   * Takes in what revision `revision` of a run says, from our own write or the watch, whichever
   * comes first; onChange hears of a run that is new and active, or whose state changed.
   */
  private note(runId: string, revision: number, record: RunRecord): void {
    const previous = this.known.get(runId);
    if (previous && previous.revision >= revision) return;
    this.known.set(runId, { revision, state: record.state, active: isTerminal(record.state) ? undefined : record, deleting: record.deleting });
    const name = record.spec?.name ?? "";
    if (name !== "" && !this.names.has(name)) this.names.set(name, runId);
    this.options.onRecord?.(record);
    if (previous ? previous.state !== record.state : !isTerminal(record.state)) this.options.onChange?.(record);
  }

  /** The record in an entry, or undefined for a deletion and for junk (reported to onInvalid). */
  private decode(entry: KvEntry): RunRecord | undefined {
    if (entry.operation !== "PUT") return undefined;
    let record: RunRecord;
    try {
      record = fromBinary(RunRecordSchema, entry.value);
    } catch (error) {
      this.options.onInvalid?.(entry.key, "undecodable", error instanceof Error ? error.message : String(error));
      return undefined;
    }
    if (record.runId !== entry.key || !record.spec) {
      this.options.onInvalid?.(entry.key, "invalid", record.runId !== entry.key ? `holds run ${JSON.stringify(record.runId.slice(0, 140))}` : "has no spec");
      return undefined;
    }
    return record;
  }
}
