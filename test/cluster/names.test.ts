import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, GrpcStatusError, status } from "@mnist/grpc";
import { RunService } from "@mnist/protocol";
import { startCluster, waitForLog, type Cluster } from "../harness/cluster.js";

/**
 * Run names: unique, and usable wherever an id is (get, set, stop, watch, the gRPC API); JSON
 * output names enum values as the flags do ("state": "finished").
 */

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const quick = ["--sizes", "784,10,10", "--train-limit", "1000"];

describe("run names", () => {
  it("are unique: a second launch under a taken name is refused, naming the run that has it", async () => {
    const first = await cluster.cli(["run", ...quick, "--epochs", "1", "--name", "alpha", "--follow", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const runId = String(JSON.parse(first.stdout.split("\n")[0]!).run);
    const again = await cluster.cli(["run", ...quick, "--epochs", "1", "--name", "alpha"]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`mnistctl run: ALREADY_EXISTS: spec.name: "alpha" is the name of run ${runId} already; run names are unique (mnistctl delete frees one)`);
    // Nor may a name be another run's id.
    const asId = await cluster.cli(["run", ...quick, "--epochs", "1", "--name", runId]);
    expect(asId.stderr).toContain("ALREADY_EXISTS");
  });

  it("stand in for the id in get, set, stop and the gRPC API; get --json names its enums", async () => {
    const launched = await cluster.cli(["run", ...quick, "--epochs", "300", "--name", "beta"]);
    expect(launched.code, launched.stderr).toBe(0);
    const runId = launched.stdout.trim().split("\n")[0]!.trim();
    const client = createClient(RunService, cluster.server);
    try {
      expect((await client.getRun({ runId: "beta" })).run!.runId).toBe(runId);
      const changed = await cluster.cli(["set", "beta", "decay-after=3", "--reason", "by name"]);
      expect(changed.code, changed.stderr).toBe(0);
      const stopped = await cluster.cli(["stop", "beta"]);
      expect(stopped.code, stopped.stderr).toBe(0);
      const record = JSON.parse((await cluster.cli(["get", "beta", "--json"])).stdout) as { runId: string; state: string; events: { kind: string }[]; spec: { cost: string } };
      expect(record).toMatchObject({ runId, state: "stopped", spec: { cost: "cross-entropy" } });
      expect(record.events.map((event) => event.kind)).toEqual(expect.arrayContaining(["launch", "place", "change", "stop"]));
      const missing = await client.getRun({ runId: "no-such-name" }).catch((error: unknown) => error);
      expect(missing).toBeInstanceOf(GrpcStatusError);
      expect((missing as GrpcStatusError).code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it("pause holds a run before its next epoch, in its record and on its trainer, until resume", async () => {
    const launched = await cluster.cli(["run", ...quick, "--epochs", "300", "--name", "gamma"]);
    const runId = launched.stdout.trim().split("\n")[0]!.trim();
    const epochs = async () => (JSON.parse((await cluster.cli(["get", "gamma", "--json"])).stdout) as { epochs: unknown[] }).epochs.length;
    while ((await epochs()) < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    const paused = await cluster.cli(["pause", "gamma", "--reason", "looking at it"]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(new RegExp(`^run ${runId} \\(gamma\\) paused: it holds before its next epoch`));
    await waitForLog(cluster.trainers[0]!, (line) => line.msg === "run paused" && line.run === runId, 30_000);
    const held = await epochs();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // At most the epoch that was deciding when the trainer heard of the pause.
    expect(await epochs()).toBeLessThanOrEqual(held + 1);
    expect((await cluster.cli(["list"])).stdout).toMatch(/gamma\s+running \(paused\)/);
    const resumed = await cluster.cli(["resume", "gamma"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const before = await epochs();
    while ((await epochs()) < before + 2) await new Promise((resolve) => setTimeout(resolve, 100));
    await cluster.cli(["stop", "gamma"]);
    const record = JSON.parse((await cluster.cli(["get", "gamma", "--json"])).stdout) as { paused: boolean; events: { kind: string; reason: string }[] };
    expect(record.paused).toBe(false);
    expect(record.events.filter((event) => event.kind === "pause" || event.kind === "resume")).toMatchObject([
      { kind: "pause", reason: "looking at it" },
      { kind: "resume", reason: "" },
    ]);
    const ended = await cluster.cli(["pause", "gamma"]);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain("has already ended");
  });

  it("a running run's answers carry its epoch in training and how long it and the epoch cap will take", async () => {
    await cluster.cli(["run", "--sizes", "784,30,10", "--train-limit", "20000", "--epochs", "50", "--name", "delta"]);
    type Progress = { epoch: number; epochShare: number; epochSecondsLeft: number; capSecondsLeft: number };
    let seen: { epochs: unknown[]; progress?: Progress } | undefined;
    for (let waited = 0; waited < 30_000 && !seen?.progress; waited += 100) {
      seen = JSON.parse((await cluster.cli(["get", "delta", "--json"])).stdout) as { epochs: unknown[]; progress?: Progress };
      if (!seen.progress) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const progress = seen!.progress!;
    expect(progress.epoch).toBeGreaterThanOrEqual(seen!.epochs.length);
    expect(progress.epochShare).toBeGreaterThanOrEqual(0);
    expect(progress.epochShare).toBeLessThanOrEqual(1);
    expect(progress.capSecondsLeft).toBeGreaterThan(progress.epochSecondsLeft);
    // Between two epochs (while one is decided) there is none: a few tries.
    let listed = "";
    for (let tries = 0; tries < 50 && !/in training/.test(listed); tries++) listed = (await cluster.cli(["list", "--name-prefix", "delta"])).stdout;
    expect(listed).toMatch(/in training\s+stop reason\n.*delta.*epoch \d+ \d+%, \d+ s left; cap in \d+ (s|min)/);
    await cluster.cli(["stop", "delta"]);
    expect(JSON.parse((await cluster.cli(["get", "delta", "--json"])).stdout).progress).toBeUndefined();
  });

  it("sweep trials without names of their own are named after their sweep, so two sweeps never clash", async () => {
    const sweep = () => cluster.cli(["sweep", ...quick, "--epochs", "1", "--eta", "0.5,1", "--json"]);
    const [first, second] = [await sweep(), await sweep()];
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const names = (await cluster.cli(["list", "--json"])).stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { spec: { name: string }; sweepId: string })
      .filter((run) => run.sweepId !== "");
    expect(names).toHaveLength(4);
    for (const run of names) expect(run.spec.name).toMatch(new RegExp(`^${run.sweepId}-[01]$`));
  });

  it("list shows the newest first, --limit of them, filtered by --state, --name-prefix and --sweep", async () => {
    const all = (await cluster.cli(["list", "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { runId: string; state: string; spec: { name: string } });
    expect(all.map((run) => run.runId)).toEqual(all.map((run) => run.runId).sort().reverse());
    const two = (await cluster.cli(["list", "--limit", "2", "--json"])).stdout.trim().split("\n");
    expect(two.map((line) => (JSON.parse(line) as { runId: string }).runId)).toEqual(all.slice(0, 2).map((run) => run.runId));
    const stopped = (await cluster.cli(["list", "--state", "stopped", "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { spec: { name: string } });
    expect(stopped.map((run) => run.spec.name).sort()).toEqual(["beta", "delta", "gamma"]);
    const named = (await cluster.cli(["list", "--name-prefix", "gam"])).stdout;
    expect(named).toContain("gamma");
    expect(named).not.toContain("beta");
    const bad = await cluster.cli(["list", "--state", "asleep"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('mnistctl list: --state is "asleep"; allowed: queued, running, finished, stopped, failed');
  });

  it("shell completion completes commands, a command's flags, and run names from the cluster", async () => {
    const complete = async (words: string[]) => {
      const script = [
        `mnistctl() { ${JSON.stringify(process.execPath)} ${JSON.stringify(`${process.cwd()}/cli/dist/main.js`)} "$@" --server ${cluster.server}; }`,
        `source <(${JSON.stringify(process.execPath)} ${JSON.stringify(`${process.cwd()}/cli/dist/main.js`)} completion bash)`,
        `COMP_WORDS=(${words.map((word) => JSON.stringify(word)).join(" ")}); COMP_CWORD=${words.length - 1}; _mnistctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ].join("\n");
      const { execFileSync } = await import("node:child_process");
      return execFileSync("bash", ["-c", script], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
    };
    expect(await complete(["mnistctl", "de"])).toEqual(["describe", "delete"]);
    expect(await complete(["mnistctl", "list", "--na"])).toEqual(["--name-prefix"]);
    expect(await complete(["mnistctl", "get", "--to"])).toEqual(["--token"]);
    await cluster.cli(["run", ...quick, "--epochs", "1", "--name", "completed-by-tab"]);
    expect(await complete(["mnistctl", "describe", "completed-by"])).toEqual(["completed-by-tab"]);
    expect(await complete(["mnistctl", "pause", "run"])).toEqual(expect.arrayContaining(["run", "runs"]));
  });
});
