import { timestampNow } from "@bufbuild/protobuf/wkt";
import { liveTrainers } from "@mnist/cluster";
import { createClient, GrpcStatusError, isPermanent, status, type Client, type ClientAccess } from "@mnist/grpc";
import { RunState, TrainerService, type RunRecord, type TrainerInfo } from "@mnist/protocol";
import type { Logger, Rejections } from "@mnist/runtime";
import type { NatsConnection } from "nats";
import type { RunStore } from "./run-store.js";

/** The longest a trainer that does not answer is passed over. */
const maxBackoffMs = 30_000;

/**
 * Places queued runs on trainers with free capacity, oldest run first, and re-queues the
 * running runs of trainers whose heartbeat has expired. One pass at a time: passes are
 * triggered by launches, run ends and a periodic tick, and coalesce while one is under way.
 */
export class Placement {
  private readonly clients = new Map<string, Client<typeof TrainerService>>();
  private passRunning: Promise<void> | undefined;
  private passWanted = false;
  private timer: NodeJS.Timeout | undefined;

  /** Called after a run starts on a trainer, with the epoch it starts from (resumed runs: later than 0). */
  onPlaced: (run: RunRecord, startEpoch: number) => Promise<void> = async () => undefined;
  /** Called when a trainer refuses a run for a reason no retry can change (a bad spec, corrupt data). */
  onRefused: (run: RunRecord, reason: string) => Promise<void> = async () => undefined;
  /** Called at the end of every pass with the runs and live trainers it saw. */
  afterPass: (runs: RunRecord[], trainers: TrainerInfo[]) => Promise<void> = async () => undefined;

  /** Trainers that did not answer StartRun: skipped until `until`, backing off on each failure. */
  private readonly unreachable = new Map<string, { until: number; failures: number }>();

  constructor(
    private readonly nats: NatsConnection,
    private readonly store: RunStore,
    private readonly logger: Logger,
    private readonly rejections: Rejections,
    /** TLS and bearer token for the trainers: the evaluator's own settings. */
    private readonly access: ClientAccess = {},
  ) {}

  start(tickMs: number): void {
    this.timer = setInterval(() => this.kick(), tickMs);
    this.kick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.passRunning;
    for (const client of this.clients.values()) client.close();
  }

  /** The trainer client for a trainer address, reused across calls. */
  trainer(address: string): Client<typeof TrainerService> {
    let client = this.clients.get(address);
    if (!client) this.clients.set(address, (client = createClient(TrainerService, address, this.access)));
    return client;
  }

  /** The live trainer the record says holds the run, if it is still alive. */
  async trainerOf(run: RunRecord): Promise<TrainerInfo | undefined> {
    return (await this.liveTrainers()).find((trainer) => trainer.trainerId === run.trainerId);
  }

  private liveTrainers(): Promise<TrainerInfo[]> {
    return liveTrainers(this.nats, (key, reason) => this.rejections.reject("trainers", reason.startsWith("undecodable") ? "undecodable" : "invalid", { key, detail: reason }));
  }

  kick(): void {
    if (this.passRunning) {
      this.passWanted = true;
      return;
    }
    this.passRunning = this.pass()
      .catch((error: unknown) => this.logger.error({ err: error }, "placement pass failed"))
      .finally(() => {
        this.passRunning = undefined;
        if (this.passWanted) {
          this.passWanted = false;
          this.kick();
        }
      });
  }

  private async pass(): Promise<void> {
    const trainers = await this.liveTrainers();
    const alive = new Set(trainers.map((trainer) => trainer.trainerId));
    this.forgetGone(trainers);
    const runs = this.store.active();
    for (const run of runs) {
      if (run.state === RunState.RUNNING && !alive.has(run.trainerId)) {
        this.logger.warn({ run: run.runId, trainer: run.trainerId }, "trainer gone, re-queueing run");
        await this.store.update(run.runId, (record) => {
          if (record.state !== RunState.RUNNING || record.trainerId !== run.trainerId) return false;
          record.state = RunState.QUEUED;
        });
        run.state = RunState.QUEUED;
      }
    }
    const load = new Map(trainers.map((trainer) => [trainer.trainerId, new Set(trainer.runIds)]));
    for (const run of runs) if (run.state === RunState.RUNNING) load.get(run.trainerId)?.add(run.runId);
    const queued = runs.filter((run) => run.state === RunState.QUEUED).sort((a, b) => a.runId.localeCompare(b.runId));
    await this.place(queued, trainers, load);
    await this.afterPass(runs, trainers);
  }

  /** Drops what is kept per trainer (clients, back-off) once the trainer is gone: heartbeats come and go, memory stays flat. */
  private forgetGone(trainers: TrainerInfo[]): void {
    const ids = new Set(trainers.map((trainer) => trainer.trainerId));
    const addresses = new Set(trainers.map((trainer) => trainer.address));
    for (const id of this.unreachable.keys()) if (!ids.has(id)) this.unreachable.delete(id);
    for (const [address, client] of this.clients) {
      if (addresses.has(address)) continue;
      client.close();
      this.clients.delete(address);
    }
  }

  private async place(queued: RunRecord[], trainers: TrainerInfo[], load: Map<string, Set<string>>): Promise<void> {
    const free = (trainer: TrainerInfo) => trainer.maxRuns - load.get(trainer.trainerId)!.size;
    const full = new Set<string>();
    for (const run of queued) {
      // The freest reachable trainer first; one that does not answer is passed over for the next.
      for (;;) {
        const now = Date.now();
        const available = (candidate: TrainerInfo) => free(candidate) > 0 && !full.has(candidate.trainerId) && (this.unreachable.get(candidate.trainerId)?.until ?? 0) <= now;
        const trainer = trainers.filter(available).sort((a, b) => free(b) - free(a))[0];
        if (!trainer) return;
        const outcome = await this.placeOn(run, trainer, load).catch((error: unknown) => {
          // One run's trouble (its record unreadable, its failure unrecordable) must not hold up the rest.
          this.logger.error({ run: run.runId, err: error }, "run not placed");
          return "not-placed" as const;
        });
        if (outcome === "full") full.add(trainer.trainerId);
        if (outcome === "placed" || outcome === "not-placed") break;
      }
    }
  }

  /** Starts `run` on `trainer`; "full" or "unreachable" when that trainer cannot take it now (the run stays queued). */
  private async placeOn(run: RunRecord, trainer: TrainerInfo, load: Map<string, Set<string>>): Promise<"placed" | "not-placed" | "full" | "unreachable"> {
    try {
      const started = await this.trainer(trainer.address).startRun({ runId: run.runId, spec: run.spec }, { timeoutMs: 30_000 });
      load.get(trainer.trainerId)!.add(run.runId);
      const placed = await this.store.update(run.runId, (record) => {
        if (record.state !== RunState.QUEUED) return false;
        record.state = RunState.RUNNING;
        record.trainerId = trainer.trainerId;
        record.startedAt ??= timestampNow();
      });
      this.unreachable.delete(trainer.trainerId);
      if (placed?.state !== RunState.RUNNING || placed.trainerId !== trainer.trainerId) {
        // Stopped while we were starting it.
        await this.trainer(trainer.address).stopTraining({ runId: run.runId, reason: "stopped" }).catch(() => undefined);
        return "not-placed";
      }
      this.logger.info({ run: run.runId, trainer: trainer.trainerId, startEpoch: started.startEpoch }, "run placed");
      void this.onPlaced(placed, started.startEpoch).catch((error: unknown) => this.logger.warn({ run: run.runId, err: error }, "could not repeat the last decision"));
      return "placed";
    } catch (error) {
      if (error instanceof GrpcStatusError && isPermanent(error.code)) {
        // Another trainer would refuse it too: the run fails, with the trainer's reason in its record.
        this.logger.warn({ run: run.runId, trainer: trainer.trainerId, err: error }, "trainer refused run for good");
        await this.onRefused(run, `trainer ${trainer.trainerId} refused the run: ${error.message}`);
        return "not-placed";
      }
      if (error instanceof GrpcStatusError && error.code === status.RESOURCE_EXHAUSTED) {
        this.logger.warn({ run: run.runId, trainer: trainer.trainerId, err: error }, "trainer full; trying another");
        return "full";
      }
      const failures = (this.unreachable.get(trainer.trainerId)?.failures ?? 0) + 1;
      const backoffMs = Math.min(maxBackoffMs, 1_000 * 2 ** (failures - 1));
      this.unreachable.set(trainer.trainerId, { until: Date.now() + backoffMs, failures });
      this.logger.warn({ run: run.runId, trainer: trainer.trainerId, backoffMs, err: error }, "trainer did not take the run; trying another");
      return "unreachable";
    }
  }
}
