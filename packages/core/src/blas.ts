import { invalidArgument } from "@mnist/errors";
import { native, type NativeCore } from "./native.js";
import { checkInteger, checkKnownKeys, checkObject } from "./validate.js";

export { defaultBlasThreads } from "./native.js";

/** Process-wide: bit-identical results need the same thread count, so record it with a run. */
export function setBlasThreads(threads: number): void {
  native.setBlasThreads(checkInteger("threads", threads, 1, 256));
}

export function getBlasThreads(): number {
  return native.getBlasThreads();
}

export interface RuntimeInfo {
  blasThreads: number;
  /** OpenBLAS's build description (version, target core), for a run's record. */
  blasConfig: string;
}

export function runtimeInfo(): RuntimeInfo {
  return { blasThreads: native.getBlasThreads(), blasConfig: native.blasConfig() };
}

export interface SgemmOptions {
  /** C (m × n) = A (m × k) · B (k × n), row-major, no transposes. */
  m: number;
  n: number;
  k: number;
  /** Timed calls after one untimed warm-up call; default 10. */
  repeats?: number;
  /** OpenBLAS threads for the measurement; default: the current count, which is restored after. */
  threads?: number;
}

// The addon's export, typed here beside its only caller.
const sgemm = native as NativeCore & { measureSgemmGflops(m: number, n: number, k: number, repeats: number, threads: number): number };

/** Operands of at most 2^26 floats each (256 MB): enough for any peak measurement. */
const maxOperandFloats = 1 << 26;

/**
 * GFLOP/s (2·m·n·k per call) of cblas_sgemm on this machine at one shape and thread count: the
 * ceiling to read the core's achieved rate against (`npm run bench -- core`). Blocks the thread
 * for the whole measurement.
 */
export function measureSgemmGflops(options: SgemmOptions): number {
  const o = checkObject("options", options);
  checkKnownKeys("options", o, ["m", "n", "k", "repeats", "threads"]);
  const m = checkInteger("options.m", o.m, 1, 1 << 16);
  const n = checkInteger("options.n", o.n, 1, 1 << 16);
  const k = checkInteger("options.k", o.k, 1, 1 << 16);
  for (const [name, floats] of [["m × k", m * k], ["k × n", k * n], ["m × n", m * n]] as const) {
    if (floats > maxOperandFloats) throw invalidArgument(`options (${name})`, floats, `at most ${maxOperandFloats} floats per operand`);
  }
  const repeats = checkInteger("options.repeats", o.repeats ?? 10, 1, 1_000_000);
  const threads = checkInteger("options.threads", o.threads ?? native.getBlasThreads(), 1, 256);
  return sgemm.measureSgemmGflops(m, n, k, repeats, threads);
}
