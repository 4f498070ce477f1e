import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT and the like). */
  error?: Error;
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Every line the child writes, stdout and stderr alike, as it arrives. */
  onLine?(line: string): void;
}

/** How many of a child's last lines are kept, to show why it failed. */
const keptLines = 40;

/**
 * A process in its own process group, so that a Ctrl-C in the terminal reaches only the
 * launcher (which stops its children in order) and a group signal reaches anything the child
 * itself started.
 */
export class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<ChildExit>;
  private readonly recent: string[] = [];
  private exit: ChildExit | undefined;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: ChildOptions = {},
  ) {
    this.process = spawn(command, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const keep = (line: string) => {
      this.recent.push(line);
      if (this.recent.length > keptLines) this.recent.shift();
      options.onLine?.(line);
    };
    createInterface({ input: this.process.stdout! }).on("line", keep);
    createInterface({ input: this.process.stderr! }).on("line", keep);
    this.exited = new Promise((resolve) => {
      this.process.once("error", (error) => {
        // An exit may follow a spawn error, or not: settle on whichever comes first.
        this.exit ??= { code: null, signal: null, error };
        resolve(this.exit);
      });
      this.process.once("exit", (code, signal) => {
        this.exit ??= { code, signal };
        resolve(this.exit);
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The last lines the child wrote, oldest first. */
  lastLines(): string[] {
    return [...this.recent];
  }

  /** "exited with code 2", "was killed by SIGKILL", "could not start: …". */
  describeExit(exit: ChildExit): string {
    if (exit.error) return `could not start: ${exit.error.message}`;
    return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  }

  /** SIGTERM to the group, SIGKILL after `graceMs` if it is still there. */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.signalGroup("SIGTERM");
    const timer = setTimeout(() => this.signalGroup("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
    // Anything the child started and left behind in its group goes with it.
    this.signalGroup("SIGKILL");
  }

  kill(): void {
    this.signalGroup("SIGKILL");
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.process.pid === undefined) return;
    try {
      process.kill(-this.process.pid, signal);
    } catch {
      // The group is gone already.
    }
  }
}
