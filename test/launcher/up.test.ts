import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { natsUrl } from "../harness/nats.js";
import { groupAlive, repoRoot } from "../harness/services.js";

interface Launch {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string[];
  stderr: string;
  json: Record<string, unknown>[];
}

/**
 * `npm start`'s program (`mnistctl up`) as its own process, or `npm start` itself with `viaNpm`;
 * `onLine` sees each line of its output (stdout and stderr) as it comes, and may signal the launcher or
 * stop reading its output.
 */
function launch(
  args: string[],
  env: Record<string, string | undefined> = {},
  onLine?: (line: string, kill: (signal: NodeJS.Signals) => void, closeOutput: () => void) => void,
  viaNpm = false,
) {
  const childEnv = { ...process.env, NATS_URL: undefined, ...env };
  const [command, argv] = viaNpm ? ["npm", ["start", "--silent", "--", ...args]] : [process.execPath, [`${repoRoot}cli/dist/main.js`, "up", ...args]];
  const child = spawn(command, argv, { cwd: repoRoot, env: childEnv as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
  const stdout: string[] = [];
  let stderr = "";
  const see = (line: string) =>
    onLine?.(
      line,
      (signal) => child.kill(signal),
      () => {
        child.stdout.destroy();
        child.stderr.destroy();
      },
    );
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stderr }).on("line", see);
  createInterface({ input: child.stdout }).on("line", (line) => {
    stdout.push(line);
    see(line);
  });
  return new Promise<Launch>((resolve) =>
    child.once("close", (code, signal) => {
      const json = stdout.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
      resolve({ code, signal, stdout, stderr, json });
    }),
  );
}

/** The pids and the temporary store the launcher reported in --json mode. */
function started(result: Launch) {
  const lines = result.json.filter((line) => line.service === "launcher" && line.msg === "process started");
  return {
    names: lines.map((line) => String(line.process)).sort(),
    pids: lines.map((line) => Number(line.pid)),
    stores: lines.filter((line) => typeof line.store === "string").map((line) => String(line.store)),
  };
}

const shortRun = ["--train-limit", "2000", "--epochs", "2", "--augment", "none"];

/** Whether anything accepts a connection on the loopback port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("npm start (mnistctl up)", () => {
  it("runs the pipeline with its own nats-server, prints the run's pino lines and leaves nothing behind", async () => {
    const result = await launch([...shortRun, "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const { names, pids, stores } = started(result);
    expect(names).toEqual(["augment-1", "augment-2", "evaluator", "nats-server", "trainer-1"]);
    const epochs = result.json.filter((line) => line.service === "evaluator" && line.msg === "epoch");
    expect(epochs.map((line) => line.epoch)).toEqual([0, 1]);
    const finished = result.json.find((line) => line.service === "evaluator" && line.msg === "run finished")!;
    expect(finished.testAccuracy).toBeGreaterThan(0.5);
    expect(finished.stopReason).toBe("completed 2 epochs");
    expect(result.json.at(-1)).toMatchObject({ service: "launcher", msg: "stopped" });
    for (const pid of pids) expect(groupAlive(pid), `process group ${pid}`).toBe(false);
    expect(stores).toHaveLength(1);
    expect(existsSync(stores[0]!)).toBe(false);
  });

  it("as npm start, uses NATS_URL when set and ends on the final line: best validation accuracy, its epoch, test accuracy, stop reason, wall time", async () => {
    const result = await launch([...shortRun, "--augment-replicas", "1", "--name", "smoke"], { NATS_URL: natsUrl() }, undefined, true);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain("nats-server");
    expect(result.stderr).toContain("starting 1 augment, 1 trainer and the evaluator");
    expect(result.stdout[0]).toMatch(/^\s*epoch\s+eta\s+train s/);
    expect(result.stdout.at(-1)).toMatch(
      /^run \S+ finished; best validation accuracy \d+\.\d\d% at epoch [01]; test accuracy \d+\.\d\d%; stopped: completed 2 epochs; \d+\.\d s$/,
    );
    expect(result.stderr).toMatch(/stopped everything in \d+\.\d s/);
  });

  it("stops everything promptly on Ctrl-C (SIGINT) mid-run and exits 130", async () => {
    let interruptedAt = 0;
    const result = await launch(["--train-limit", "10000", "--epochs", "500", "--json"], {}, (line, kill) => {
      if (interruptedAt === 0 && line.includes('"msg":"epoch"')) {
        interruptedAt = Date.now();
        kill("SIGINT");
      }
    });
    const stopSeconds = (Date.now() - interruptedAt) / 1000;
    expect(interruptedAt, result.stderr).toBeGreaterThan(0);
    expect(result.code).toBe(130);
    expect(stopSeconds).toBeLessThan(20);
    expect(result.json.some((line) => line.msg === "interrupted")).toBe(true);
    expect(result.json.some((line) => line.msg === "run finished")).toBe(false);
    const { pids, stores } = started(result);
    expect(pids).toHaveLength(5);
    for (const pid of pids) expect(groupAlive(pid), `process group ${pid}`).toBe(false);
    expect(existsSync(stores[0]!)).toBe(false);
  });

  it("stops everything on Ctrl-C after whatever read its output has gone (npm start | tee, the tee ended by the same Ctrl-C)", async () => {
    // The terminal's lines, not --json: the launcher's own messages are plain writes to stderr there.
    const ports: number[] = [];
    const result = await launch([...shortRun, "--keep", "--dashboard-port", "0"], {}, (line, kill, closeOutput) => {
      const server = /MNISTCTL_SERVER=127\.0\.0\.1:(\d+)/.exec(line);
      if (server) ports.push(Number(server[1]));
      const nats = /^NATS at nats:\/\/127\.0\.0\.1:(\d+)\./.exec(line);
      if (nats) {
        ports.push(Number(nats[1]));
        closeOutput();
        kill("SIGINT");
      }
    });
    expect(ports, result.stderr).toHaveLength(2);
    expect(result.code).toBe(0); // --keep's Ctrl-C after a finished run is its ordinary end (a crash: 1)
    // the evaluator and the nats-server it started are gone: nothing answers on their ports
    for (const port of ports) expect(await answers(port), `port ${port}`).toBe(false);
  });

  it("stops the launch with a service's last lines and exit 1 when it dies before it is healthy", async () => {
    const result = await launch([...shortRun, "--json"], { AUGMENT_MAX_SLICE: "0" });
    expect(result.code).toBe(1);
    const failure = result.json.find((line) => line.msg === "launch failed")!;
    expect(failure.reason).toMatch(/^augment-\d exited with code 2 before ready$/);
    expect(JSON.stringify(failure.lastLines)).toContain("AUGMENT_MAX_SLICE");
    const { pids } = started(result);
    for (const pid of pids) expect(groupAlive(pid), `process group ${pid}`).toBe(false);
  });

  it("refuses a bad flag with one line and exit 2, before starting anything", async () => {
    const result = await launch(["--augment-replicas", "0"]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('mnistctl up: --augment-replicas is "0"; allowed: a whole number from 1 to 64');
    const spec = await launch(["--eta", "-1"]);
    expect(spec.code).toBe(2);
    expect(spec.stderr.trim().split("\n")).toHaveLength(1);
    expect(spec.stderr).toContain("--eta");
  });
});
