import { GrpcStatusError, status, type Client } from "@mnist/grpc";
import { createLogger } from "@mnist/runtime";
import { RunService, RunState, type RunSpec } from "@mnist/protocol";
import type { Command } from "../command.js";
import { EpochPrinter, follow, withRunService, type EpochSink } from "../cluster.js";
import { UsageError } from "../errors.js";
import { FlagReader, parseFlags, type FlagValues } from "../flags.js";
import { clientAccessHints, launcherAccess } from "../launcher/access.js";
import { freePort, LaunchError, LocalCluster } from "../launcher/local-cluster.js";
import { resolveFlagsSpec, runSpecFromFlags, specFlags, specFlagsHelp } from "../spec-flags.js";

/**
 * The run `npm start` launches unless told otherwise: a [784,200,10] cross-entropy network with
 * L2 (λ=5), η=0.5, mini-batches of 10, trained on affine distortions (rotation, translation,
 * skew, scale), η halved whenever validation accuracy has not improved for 5 epochs until it has
 * fallen 1024-fold, at most 150 epochs. Chosen by measurement among the chapter's settings
 * (README: "How the default run was chosen").
 */
export const defaultRunFlags = {
  name: "default",
  sizes: "784,200,10",
  cost: "cross-entropy",
  lambda: "5",
  eta: "0.5",
  mb: "10",
  augment: "affine",
  "decay-after": "5",
  epochs: "150",
} as const satisfies FlagValues<typeof specFlags>;

/**
 * Launches the run; with npm start's own default name and a cluster that has a run of that name
 * already (an existing NATS, a kept --data-dir), as default-2, default-3, … (run names are unique).
 */
async function launchUnderFreeName(client: Client<typeof RunService>, spec: RunSpec, defaultName: boolean) {
  for (let attempt = 1; ; attempt++) {
    const named = attempt === 1 ? spec : { ...spec, name: `${defaultRunFlags.name}-${attempt}` };
    try {
      return await client.launchRun({ spec: named });
    } catch (error) {
      if (!defaultName || attempt >= 100 || !(error instanceof GrpcStatusError) || error.code !== status.ALREADY_EXISTS) throw error;
    }
  }
}

/** The evaluator's own default (DASHBOARD_PORT), tried first. */
const dashboardDefaultPort = 8080;

const launcherFlags = {
  "augment-replicas": { type: "string" },
  trainers: { type: "string" },
  "nats-url": { type: "string" },
  "data-dir": { type: "string" },
  port: { type: "string" },
  "dashboard-port": { type: "string" },
  keep: { type: "boolean" },
  json: { type: "boolean" },
  "service-logs": { type: "boolean" },
  "start-timeout": { type: "string" },
  grace: { type: "string" },
} as const;

const defaultFlagsLine = Object.entries(defaultRunFlags)
  .map(([flag, value]) => `--${flag} ${value}`)
  .join(" ");

const usage = [
  "npm start -- [flags]        (or: mnistctl up [flags])",
  "",
  "Runs the whole pipeline on this machine and ends on its own: a nats-server with JetStream",
  "(unless NATS_URL or --nats-url names one), the augment replicas, the trainers and the",
  "evaluator as child processes on free loopback ports, each waited for until its gRPC health",
  "answers SERVING; then one run launched over gRPC as `mnistctl run` launches it, its epochs",
  "shown as they come (a progress bar on a terminal), and a last line with the best validation",
  "accuracy, its epoch, the test accuracy, the stop reason and the wall time. Everything it",
  "started is stopped at the end, on error and on Ctrl-C (SIGTERM, SIGKILL after --grace).",
  "",
  "the cluster:",
  "  --augment-replicas 2       augment service processes     --trainers 1    trainer processes",
  "  --nats-url URL             an existing NATS with JetStream (default: $NATS_URL, else start one)",
  "  --data-dir DIR             the started nats-server's store, kept (default: a temporary one, removed)",
  "  --port N                   the evaluator's gRPC port (default: a free one)",
  "  --dashboard-port N         the evaluator's web dashboard (default: $DASHBOARD_PORT, else 8080 if free,",
  "                             else a free one; 0: off)",
  "  --keep                     after the run, leave the cluster up and say how to reach it; Ctrl-C stops it",
  "  --start-timeout 60         seconds each process may take to answer SERVING",
  "  --grace 15                 seconds each process may take to stop before it is killed",
  "  Services read the rest of their configuration from the environment (README: TRAINER_MAX_RUNS, …).",
  "output:",
  "  --json                     pino lines: the evaluator's own epoch and run-finished lines, and the launcher's",
  "  --service-logs             copy every service's log lines to stderr",
  "",
  "the run: any flag of mnistctl run, below; npm start's own defaults take the place of the chapter's:",
  `  ${defaultFlagsLine}`,
  specFlagsHelp,
].join("\n");

function positiveInteger(reader: FlagReader, flag: string, raw: string | undefined, fallback: number, max: number): number {
  const value = reader.integer(flag, raw) ?? fallback;
  if (value < 1 || value > max) reader.fail(flag, raw!, `a whole number from 1 to ${max}`);
  return value;
}

function seconds(reader: FlagReader, flag: string, raw: string | undefined, fallback: number): number {
  const value = reader.number(flag, raw) ?? fallback;
  if (!(value > 0 && value <= 3600)) reader.fail(flag, raw!, "seconds, more than 0 and at most 3600");
  return value * 1000;
}

/**
 * Where the launcher's own words go: a person reads lines on stderr (stdout carries the run),
 * a program reads pino lines whose `msg` is the event.
 */
interface Narrator {
  say(event: string, text: string, fields?: Record<string, unknown>): void;
  fail(event: string, text: string, fields?: Record<string, unknown>): void;
}

function narrator(json: boolean): Narrator {
  if (json) {
    const logger = createLogger("launcher");
    return { say: (event, _text, fields) => logger.info(fields ?? {}, event), fail: (event, _text, fields) => logger.error(fields ?? {}, event) };
  }
  const write = (_event: string, text: string) => process.stderr.write(`${text}\n`);
  return { say: write, fail: write };
}

/** The run's flags as a command line a person can repeat by hand against any cluster. */
function commandLine(flags: Record<string, string | boolean | undefined>): string {
  const parts = ["mnistctl run"];
  for (const [flag, value] of Object.entries(flags)) {
    if (value === undefined || value === false) continue;
    parts.push(value === true ? `--${flag}` : `--${flag} ${/[\s"']/.test(value) ? JSON.stringify(value) : value}`);
  }
  return parts.join(" ");
}

/** Ctrl-C, SIGTERM and SIGHUP stop the launch in order; a second Ctrl-C kills at once. */
function interrupts(onSecond: () => void): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) onSecond();
    else controller.abort(name);
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const name of signals) process.on(name, onSignal);
  return { signal: controller.signal, dispose: () => signals.forEach((name) => process.off(name, onSignal)) };
}

function isRunLine(line: string, runId: string): boolean {
  try {
    const entry = JSON.parse(line) as { run?: unknown; msg?: unknown };
    return entry.run === runId && (entry.msg === "epoch" || entry.msg === "run finished");
  } catch {
    return false;
  }
}

/** --json shows the evaluator's own lines instead; the watch only says when the run has ended. */
const unseen: EpochSink = { wantsProgress: false, progress: () => undefined, epoch: () => undefined, finished: () => undefined, clear: () => undefined };

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
}

export const upCommand: Command = {
  name: "up",
  summary: "run the whole pipeline on this machine, one run through it, then stop it all (npm start)",
  usage,
  run: async (argv) => {
    const name = "up";
    const { values } = parseFlags(name, argv, { ...specFlags, ...launcherFlags });
    const reader = new FlagReader(name);
    const runFlags = Object.fromEntries(Object.keys(specFlags).map((flag) => [flag, values[flag as keyof typeof specFlags]]));
    const effective = { ...defaultRunFlags, ...Object.fromEntries(Object.entries(runFlags).filter(([, value]) => value !== undefined)) };
    const spec = runSpecFromFlags(name, effective);
    resolveFlagsSpec(name, spec); // a bad flag stops here, before anything is started
    const augmentReplicas = positiveInteger(reader, "augment-replicas", values["augment-replicas"], 2, 64);
    const trainers = positiveInteger(reader, "trainers", values.trainers, 1, 64);
    const evaluatorPort = values.port === undefined ? undefined : reader.integer("port", values.port);
    if (evaluatorPort !== undefined && (evaluatorPort < 1 || evaluatorPort > 65535)) reader.fail("port", values.port!, "a port from 1 to 65535");
    const dashboardFlag = values["dashboard-port"] === undefined ? undefined : reader.integer("dashboard-port", values["dashboard-port"]);
    if (dashboardFlag !== undefined && (dashboardFlag < 0 || dashboardFlag > 65535)) reader.fail("dashboard-port", values["dashboard-port"]!, "a port from 1 to 65535, or 0 for no dashboard");
    // DASHBOARD_PORT in the environment reaches the evaluator as it is (and is checked there).
    const dashboardPort = dashboardFlag ?? (process.env.DASHBOARD_PORT ? undefined : await freePort("127.0.0.1", dashboardDefaultPort));
    const natsUrl = values["nats-url"] ?? (process.env.NATS_URL || undefined);
    if (natsUrl !== undefined && !/^(nats|tls):\/\/[^\s]+$/.test(natsUrl)) throw new UsageError(`mnistctl up: NATS URL ${JSON.stringify(natsUrl)} is not allowed; nats://host:port`);
    const startTimeoutMs = seconds(reader, "start-timeout", values["start-timeout"], 60);
    const graceMs = seconds(reader, "grace", values.grace, 15);
    const access = launcherAccess(name); // AUTH_TOKEN, GRPC_TLS_*: the services inherit them
    const json = values.json ?? false;
    const say = narrator(json);
    const began = performance.now();

    let runId: string | undefined;
    const cluster = new LocalCluster({
      natsUrl,
      natsDataDir: values["data-dir"],
      augmentReplicas,
      trainers,
      startTimeoutMs,
      graceMs,
      evaluatorPort,
      dashboardPort,
      tls: access.tls,
      onStarted: (process, { address, pid, store }) => {
        const where = store ? `${address} (JetStream store ${store.dir}${store.temporary ? ", temporary" : ""})` : address;
        say.say("process started", `  ${process.padEnd(13)}${where}`, { process, address, pid, ...(store ? { store: store.dir, temporaryStore: store.temporary } : {}) });
      },
      onServiceLine: (service, line) => {
        if (values["service-logs"]) process.stderr.write(`${service} | ${line}\n`);
        // --json: the evaluator's own lines about this run, as it logs them.
        if (json && service === "evaluator" && runId !== undefined && line.includes(runId) && isRunLine(line, runId)) process.stdout.write(`${line}\n`);
      },
    });
    const interrupt = interrupts(() => {
      cluster.kill();
      process.exit(130);
    });
    const interrupted = untilAborted(interrupt.signal).then(() => {
      // The terminal's "^C" and a progress bar share the last line: clear it before saying more.
      if (!json && process.stdout.isTTY) process.stdout.write("\r\x1b[2K");
      say.say("interrupted", `${String(interrupt.signal.reason)}: stopping everything (again to kill at once)`, { signal: String(interrupt.signal.reason) });
      return "interrupted" as const;
    });
    try {
      say.say("starting", `starting ${natsUrl ? "" : "nats-server, "}${augmentReplicas} augment, ${trainers} trainer${trainers > 1 ? "s" : ""} and the evaluator`, {
        nats: natsUrl ?? "started here",
        augmentReplicas,
        trainers,
      });
      const starting = cluster.start();
      starting.catch(() => undefined);
      if ((await Promise.race([starting, interrupted])) === "interrupted") return 130;
      const readySeconds = (performance.now() - began) / 1000;
      const dashboardNote = cluster.dashboard ? `; dashboard at ${cluster.dashboard}` : "";
      say.say("cluster ready", `ready in ${readySeconds.toFixed(1)} s; evaluator at ${cluster.evaluator}${dashboardNote}`, {
        evaluator: cluster.evaluator,
        dashboard: cluster.dashboard || "off",
        nats: cluster.natsUrl,
        seconds: readySeconds,
      });

      const outcome = await withRunService(name, { server: cluster.evaluator, access }, async (client) => {
        const launched = await launchUnderFreeName(client, spec, values.name === undefined);
        runId = launched.runId;
        say.say("run launched", `run ${runId}: ${commandLine(effective)}`, { run: runId, argv: commandLine(effective) });
        const watching = new AbortController();
        const following = follow(client, runId, json ? unseen : new EpochPrinter(false, runId), watching.signal);
        following.catch(() => undefined);
        return Promise.race([following, cluster.failure, interrupted]).finally(() => watching.abort());
      });
      if (outcome === "interrupted") return 130;
      if (values.keep) {
        say.say(
          "cluster kept",
          [
            "the cluster stays up (--keep). From another terminal:",
            `  export MNISTCTL_SERVER=${cluster.evaluator}`,
            ...clientAccessHints().map((line) => `  ${line}`),
            "  npx mnistctl list",
            "  npx mnistctl run --sizes 784,30,10 --follow",
            ...(cluster.dashboard ? [`The dashboard: ${cluster.dashboard}`] : []),
            `NATS at ${cluster.natsUrl}. Ctrl-C here stops everything.`,
          ].join("\n"),
          { evaluator: cluster.evaluator, dashboard: cluster.dashboard || "off", nats: cluster.natsUrl },
        );
        await Promise.race([interrupted, cluster.failure]);
      }
      return outcome.state === RunState.FAILED ? 1 : 0;
    } catch (error) {
      if (error instanceof LaunchError) {
        say.fail("launch failed", `mnistctl up: ${error.message}${error.lastLines.length ? "; its last lines:" : ""}`, { reason: error.message, process: error.process, lastLines: error.lastLines });
        if (!json) for (const line of error.lastLines.slice(-15)) process.stderr.write(`  ${error.process} | ${line}\n`);
        return 1;
      }
      if (interrupt.signal.aborted) return 130;
      throw error;
    } finally {
      const stopping = performance.now();
      await cluster.stop();
      const [stopSeconds, allSeconds] = [(performance.now() - stopping) / 1000, (performance.now() - began) / 1000];
      say.say("stopped", `stopped everything in ${stopSeconds.toFixed(1)} s; ${allSeconds.toFixed(1)} s in all`, { stopSeconds, wallSeconds: allSeconds });
      interrupt.dispose();
    }
  },
};
