import { describe, expect, it } from "vitest";
import { InvalidArgument } from "@mnist/errors";
import { getBlasThreads, measureSgemmGflops } from "../src/index.js";

// measureSgemmGflops is the benchmark's ceiling (npm run bench -- core); these check only that it
// measures something sane and leaves training's thread count as it found it.
describe("measureSgemmGflops", () => {
  it("returns a positive finite rate and restores the thread count", () => {
    const before = getBlasThreads();
    const gflops = measureSgemmGflops({ m: 64, n: 64, k: 64, repeats: 20, threads: 2 });
    expect(Number.isFinite(gflops)).toBe(true);
    expect(gflops).toBeGreaterThan(0);
    expect(getBlasThreads()).toBe(before);
  });

  it("rejects bad shapes and options before the native call", () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgument);
        return [(e as InvalidArgument).code, (e as InvalidArgument).field];
      }
      return null;
    };
    expect(code(() => measureSgemmGflops({ m: 0, n: 8, k: 8 }))).toEqual(["INVALID_ARGUMENT", "options.m"]);
    expect(code(() => measureSgemmGflops({ m: 8, n: 8, k: 8, repeats: 1.5 }))).toEqual(["INVALID_ARGUMENT", "options.repeats"]);
    expect(code(() => measureSgemmGflops({ m: 8, n: 8, k: 8, threads: 0 }))).toEqual(["INVALID_ARGUMENT", "options.threads"]);
    expect(code(() => measureSgemmGflops({ m: 65536, n: 8, k: 65536 }))).toEqual(["INVALID_ARGUMENT", "options (m × k)"]);
    expect(code(() => measureSgemmGflops({ m: 8, n: 8, k: 8, lamda: 1 } as never))).toEqual(["INVALID_ARGUMENT", "options.lamda"]);
  });
});
