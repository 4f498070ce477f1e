import { timestampNow } from "@bufbuild/protobuf/wkt";
import { liveTrainers } from "@mnist/cluster";
import { createClient, GrpcStatusError, isPermanent, type Client, type ClientAccess } from "@mnist/grpc";
import { RunState, TrainerService, type RunRecord, type TrainerInfo } from "@mnist/protocol";
import type { Logger } from "@mnist/runtime";
import type { NatsConnection } from "nats";
import type { RunStore } from "./run-store.js";

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

  constructor(
    private readonly nats: NatsConnection,
    private readonly store: RunStore,
    private readonly logger: Logger,
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
    return (await liveTrainers(this.nats)).find((trainer) => trainer.trainerId === run.trainerId);
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
    const trainers = await liveTrainers(this.nats);
    const alive = new Set(trainers.map((trainer) => trainer.trainerId));
    const runs = await this.store.list();
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

  private async place(queued: RunRecord[], trainers: TrainerInfo[], load: Map<string, Set<string>>): Promise<void> {
    for (const run of queued) {
      const trainer = trainers
        .filter((candidate) => candidate.maxRuns - load.get(candidate.trainerId)!.size > 0)
        .sort((a, b) => b.maxRuns - load.get(b.trainerId)!.size - (a.maxRuns - load.get(a.trainerId)!.size))[0];
      if (!trainer) return;
      try {
        const started = await this.trainer(trainer.address).startRun({ runId: run.runId, spec: run.spec }, { timeoutMs: 30_000 });
        load.get(trainer.trainerId)!.add(run.runId);
        const placed = await this.store.update(run.runId, (record) => {
          if (record.state !== RunState.QUEUED) return false;
          record.state = RunState.RUNNING;
          record.trainerId = trainer.trainerId;
          record.startedAt ??= timestampNow();
        });
        if (placed?.state !== RunState.RUNNING || placed.trainerId !== trainer.trainerId) {
          // Stopped while we were starting it.
          await this.trainer(trainer.address).stopTraining({ runId: run.runId, reason: "stopped" }).catch(() => undefined);
          continue;
        }
        this.logger.info({ run: run.runId, trainer: trainer.trainerId, startEpoch: started.startEpoch }, "run placed");
        void this.onPlaced(placed, started.startEpoch).catch((error: unknown) => this.logger.warn({ run: run.runId, err: error }, "could not repeat the last decision"));
      } catch (error) {
        if (error instanceof GrpcStatusError && isPermanent(error.code)) {
          // Another trainer would refuse it too: the run fails, with the trainer's reason in its record.
          this.logger.warn({ run: run.runId, trainer: trainer.trainerId, err: error }, "trainer refused run for good");
          await this.onRefused(run, `trainer ${trainer.trainerId} refused the run: ${error.message}`);
        } else {
          this.logger.warn({ run: run.runId, trainer: trainer.trainerId, err: error }, "trainer refused run; retrying later");
        }
      }
    }
  }
}
