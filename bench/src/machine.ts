import { cpus, loadavg } from "node:os";
import { runtimeInfo } from "@mnist/core";

/** What a results file records so a number can be traced to where and how it was measured. */
export interface MachineInfo {
  date: string;
  command: string;
  cpu: string;
  cores: number;
  node: string;
  openblas: string;
  blasThreads: number;
  /** 1-minute load average when the run started: other work on a 2-core box skews timings. */
  loadAverage: number;
}

// Taken at import, before this process adds its own load.
const startLoad = loadavg()[0]!;

/** Above this the machine was doing something else when a timing run began. */
const busyLoad = 0.5;

/** Says so when the machine was busy as the run began: its timings will be noisy. */
export function warnIfBusy(log: (line: string) => void): void {
  if (startLoad > busyLoad) log(`warning: load average ${startLoad.toFixed(2)} at start: something else is running, timings will be noisy`);
}

export function machineInfo(argv: readonly string[]): MachineInfo {
  const info = runtimeInfo();
  return {
    date: new Date().toISOString(),
    command: ["npm run bench --", ...argv].join(" "),
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    node: process.version,
    openblas: info.blasConfig.trim(),
    blasThreads: info.blasThreads,
    loadAverage: startLoad,
  };
}

export function machineLines(m: MachineInfo): string[] {
  return [
    `- command: \`${m.command}\``,
    `- date: ${m.date}`,
    `- machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}; ${m.openblas}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? "(unset)"}, OPENBLAS_L2_SIZE=${process.env.OPENBLAS_L2_SIZE ?? "(unset)"}; load average at start ${m.loadAverage.toFixed(2)}`,
  ];
}
