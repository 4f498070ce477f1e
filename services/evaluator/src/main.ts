#!/usr/bin/env node
import { consumeCheckpoints, followProgress, ReplicaStatsView, TrainerView, watchProgress } from "@mnist/cluster";
import { loadMnist } from "@mnist/core";
import { grpcServerTls, runService } from "@mnist/runtime";
import { mnistLimits } from "@mnist/spec";
import { evaluatorEnv, evaluatorGrpcPort } from "./config.js";
import { DashboardFeed } from "./dashboard/feed.js";
import { tidyDeletions } from "./tidy.js";
import { serveDashboard, type DashboardServer } from "./dashboard/server.js";
import { LiveProgress } from "./live-progress.js";
import { evaluatorMetrics } from "./metrics.js";
import { Placement } from "./placement.js";
import { runService as runServiceBinding, runServiceImpl } from "./run-service.js";
import { RunStore } from "./run-store.js";
import { Steering } from "./steering.js";
import { SweepStore } from "./sweep-store.js";
import { TrainerClients } from "./trainer-clients.js";

await runService({
  name: "evaluator",
  defaultGrpcPort: evaluatorGrpcPort,
  env: evaluatorEnv,
  start: async ({ config, logger, nats, grpcAccess, metrics: registry, rejections, signIns }) => {
    const mnist = loadMnist(config.EVALUATOR_DATA_DIR === undefined ? {} : { dataDir: config.EVALUATOR_DATA_DIR });
    // Any change of a run or a trainer, by anyone (a launch, a stop, another evaluator, a trainer
    // coming or going), starts a placement pass; the periodic tick catches heartbeats that expire.
    let placement: Placement | undefined;
    const kick = () => placement?.kick();
    // The dashboard's live state is fed from the same watches that steer the runs.
    let trainers: TrainerView | undefined;
    const replicas = new ReplicaStatsView(nats, {
      onInvalid: (reason, detail) => rejections.reject("augment-stats", reason, { detail }),
      onReport: () => feed.clusterChanged(),
    });
    const feed = new DashboardFeed({ trainers: () => trainers?.live() ?? [], replicas: () => replicas.live() });
    const live = new LiveProgress();
    const progress = followProgress(
      nats,
      (report) => {
        live.report(report);
        feed.epochProgress(report);
      },
      (reason, detail) => rejections.reject("progress-feed", reason, { detail }),
    );
    const store = await RunStore.open(nats, {
      onWatchError: (key, error) => logger.warn({ key, err: error }, "runs watch dropped; opening it again"),
      onInvalid: (key, reason, detail) => rejections.reject("runs", reason, { key, detail }),
      onChange: kick,
      onRecord: (record) => feed.record(record),
      onRemoved: (runId) => feed.removed(runId),
    });
    trainers = await TrainerView.open(nats, {
      onWatchError: (error) => logger.warn({ err: error }, "trainers watch dropped; opening it again"),
      onInvalid: (key, reason, detail) => rejections.reject("trainers", reason, { key, detail }),
      onChange: () => {
        kick();
        feed.clusterChanged();
      },
    });
    const sweeps = await SweepStore.open(nats, (key, reason, detail) => rejections.reject("sweeps", reason, { key, detail }));
    const clients = new TrainerClients(grpcAccess);
    const metrics = evaluatorMetrics(registry, () => store.active());
    const steering = new Steering(nats, store, trainers, clients, mnist, logger, rejections, sweeps, metrics);
    placement = new Placement(store, trainers, clients, steering, logger, (seconds) => metrics.placementSeconds.observe(seconds));
    const consuming = new AbortController();
    const consumer = consumeCheckpoints(nats, config.EVALUATOR_CONSUMER, (announcement) => steering.handle(announcement), {
      signal: consuming.signal,
      redeliverMs: config.EVALUATOR_REDELIVER_MS,
      onError: (error) => logger.error({ err: error }, "checkpoint handling failed; it will be redelivered"),
      onRejected: (reason, detail, bytes) => rejections.reject("checkpoints", reason, { detail, bytes }),
    }).catch((error: unknown) => logger.error({ err: error }, "checkpoint consumer stopped"));
    placement.start(config.EVALUATOR_PLACEMENT_INTERVAL_MS);
    void tidyDeletions(nats, store, logger).catch((error: unknown) => logger.warn({ err: error }, "could not tidy what interrupted deletions left; the next start tries again"));
    const runs = runServiceImpl(store, sweeps, steering, { ...mnistLimits, maxEpochs: config.EVALUATOR_MAX_EPOCHS }, (runId, signal) =>
      watchProgress(nats, runId, signal, (reason, detail) => rejections.reject("progress", reason, { run: runId, detail })), live,
    );
    const dashboard: DashboardServer | undefined =
      config.DASHBOARD_PORT === 0
        ? undefined
        : await serveDashboard({ host: config.GRPC_HOST, port: config.DASHBOARD_PORT, tls: grpcServerTls(config), token: config.AUTH_TOKEN, logger, feed, runService: runs, hosts: config.DASHBOARD_HOSTS, signIns, rejections });
    return {
      services: [runServiceBinding(runs)],
      ready: { dashboard: dashboard?.url ?? "off" },
      stop: async () => {
        consuming.abort();
        await dashboard?.close();
        progress.unsubscribe();
        replicas.stop();
        await placement!.stop();
        await Promise.all([consumer, store.close(), trainers!.stop()]);
        clients.close();
      },
    };
  },
});
