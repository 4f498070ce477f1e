import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { repoRoot } from "./services.js";

/** One `kB` field of /proc/PID/status (VmRSS, VmHWM), in bytes; undefined once the process is gone. */
function statusBytes(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * Environment for services whose memory a test measures. V8 collects old garbage when it likes:
 * without a bound, a service's heap grows by megabytes of garbage per thousand calls until a full
 * collection, and RSS says nothing about leaks. With the old space bounded, garbage is collected
 * as it piles up, RSS is flat unless something is kept, and a leak ends in growth (and, long
 * enough, an out-of-memory crash) instead of hiding. The young generation is held small too: V8
 * grows its semi-spaces with the allocation rate, by up to tens of megabytes that RSS shows. And
 * glibc's malloc is kept from creeping: by default it raises its mmap threshold to the largest
 * block freed, after which megabyte buffers (a slice, a NATS message) come from the heap and
 * fragment it, and RSS grows with every epoch trained (a trainer: ~8 MB over 60 epochs of
 * [784,30,10], while its JavaScript heap stays the same) without anything being kept.
 */
export const boundedHeap = { NODE_OPTIONS: "--max-old-space-size=64 --max-semi-space-size=1", MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" };

/** A live process's resident set size now, in bytes. */
export function rssBytes(pid: number): number {
  const bytes = statusBytes(pid, "VmRSS");
  if (bytes === undefined) throw new Error(`process ${pid} has no VmRSS: it has exited`);
  return bytes;
}

/**
 * Each process's highest RSS over a quiet window (`windowMs`, sampled every 250 ms): buffers come
 * and go (a replica's slices, a call's receive buffer), and one sample would catch them or not by
 * chance; compared window against window, only what is kept shows.
 */
export async function quietRss(pids: Record<string, number>, windowMs: number): Promise<Record<string, number>> {
  const highest: Record<string, number> = {};
  for (let waited = 0; ; waited += 250) {
    for (const [name, pid] of Object.entries(pids)) highest[name] = Math.max(highest[name] ?? 0, rssBytes(pid));
    if (waited >= windowMs) return highest;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Samples each process's RSS every 250 ms until `stop`, which returns the highest seen: the
 * working set of a phase (a run training), buffers in flight included.
 */
export function rssSampler(pids: Record<string, number>): { stop(): Record<string, number> } {
  const highest: Record<string, number> = {};
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) highest[name] = Math.max(highest[name] ?? 0, statusBytes(pid, "VmRSS") ?? 0);
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return highest;
    },
  };
}

/**
 * Runs a built entry point like runNode, and also reports the most memory it held: its peak RSS
 * (VmHWM, a high-water mark, so sampling every few milliseconds until it exits catches the peak
 * of anything that takes longer than that).
 */
export function runNodeMeasured(script: string, args: string[], timeoutMs = 30_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; peakRssBytes: number }>((resolve, reject) => {
    const child = spawn(process.execPath, [`${repoRoot}${script}`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let peak = 0;
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const sample = () => (peak = Math.max(peak, statusBytes(child.pid!, "VmHWM") ?? 0));
    const sampler = setInterval(sample, 5);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} ${args.join(" ")} did not finish within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ code, stdout, stderr, peakRssBytes: peak });
    });
  });
}
