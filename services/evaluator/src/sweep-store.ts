import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RUN_ID_PATTERN, SweepRecordSchema, type SchedulerSpec, type SweepRecord } from "@mnist/protocol";
import type { SweepState } from "@mnist/spec";
import type { KV, KvEntry, NatsConnection } from "nats";
import { updateEntry } from "./kv-update.js";
import { newRunId } from "./run-store.js";

export const sweepsBucket = "sweeps";

/** The scheduler's state in a sweep record, as the pure scheduler takes it. */
export function sweepStateOf(record: SweepRecord): SweepState {
  return {
    results: Object.fromEntries(Object.entries(record.results).map(([run, trial]) => [run, [...trial.values]])),
    rungs: record.rungs.map((rung) => ({ epochs: rung.epochs, entries: rung.entries.map((entry) => ({ run: entry.runId, value: entry.value })) })),
    stops: Object.fromEntries(Object.entries(record.stops).map(([run, stop]) => [run, { epoch: stop.epoch, reason: stop.reason }])),
  };
}

/** Writes the scheduler's state into the sweep record. */
export function putSweepState(record: SweepRecord, state: SweepState): void {
  record.results = Object.fromEntries(Object.entries(state.results).map(([run, values]) => [run, { $typeName: "mnist.v1.TrialResults", values }]));
  record.rungs = state.rungs.map((rung) => ({
    $typeName: "mnist.v1.Rung",
    epochs: rung.epochs,
    entries: rung.entries.map((entry) => ({ $typeName: "mnist.v1.RungEntry", runId: entry.run, value: entry.value })),
  }));
  record.stops = Object.fromEntries(Object.entries(state.stops).map(([run, stop]) => [run, { $typeName: "mnist.v1.SchedulerStop", ...stop }]));
}

/**
 * Sweep records in a JetStream KV bucket: the trials and the scheduler's state (results, rungs,
 * stops), so a restarted evaluator goes on judging trials as the last one did. Updates are
 * compare-and-set, as the runs' are: two trials reporting at once both land.
 */
export class SweepStore {
  private constructor(
    private readonly kv: KV,
    /** Each entry that is not a sweep record (undecodable, or under another sweep's key): it is treated as absent. */
    private readonly onInvalid: (key: string, reason: "undecodable" | "invalid", detail: string) => void,
  ) {}

  static async open(nats: NatsConnection, onInvalid: SweepStore["onInvalid"] = () => undefined): Promise<SweepStore> {
    return new SweepStore(await nats.jetstream().views.kv(sweepsBucket, { history: 1 }), onInvalid);
  }

  async create(name: string, scheduler: SchedulerSpec): Promise<SweepRecord> {
    const record = create(SweepRecordSchema, { sweepId: newRunId(Date.now(), "sweep"), name, scheduler, createdAt: timestampNow() });
    await this.kv.create(record.sweepId, toBinary(SweepRecordSchema, record));
    return record;
  }

  async get(sweepId: string): Promise<SweepRecord | undefined> {
    if (!RUN_ID_PATTERN.test(sweepId)) return undefined;
    const entry = await this.kv.get(sweepId);
    return entry ? this.decode(entry) : undefined;
  }

  /** Applies `change` to the latest record and writes it back (not when it returns false); undefined if there is no such sweep. */
  async update(sweepId: string, change: (record: SweepRecord) => void | false): Promise<SweepRecord | undefined> {
    return (await updateEntry(this.kv, sweepId, (entry) => this.decode(entry), (record) => toBinary(SweepRecordSchema, record), change))?.value;
  }

  /** The record in an entry; undefined for a deletion and for anything that is not this sweep's record. */
  private decode(entry: KvEntry): SweepRecord | undefined {
    if (entry.operation !== "PUT") return undefined;
    let record: SweepRecord;
    try {
      record = fromBinary(SweepRecordSchema, entry.value);
    } catch (error) {
      this.onInvalid(entry.key, "undecodable", error instanceof Error ? error.message : String(error));
      return undefined;
    }
    if (record.sweepId === entry.key) return record;
    this.onInvalid(entry.key, "invalid", `holds sweep ${JSON.stringify(record.sweepId.slice(0, 140))}`);
    return undefined;
  }
}
