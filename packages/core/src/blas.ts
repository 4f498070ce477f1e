import { native } from "./native.js";
import { checkInteger } from "./validate.js";

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
