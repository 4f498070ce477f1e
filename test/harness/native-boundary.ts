import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// What the native-boundary suites (packages/core/test, packages/augment/test) share: they call a
// raw addon directly with what the TypeScript wrapper would never pass, and every such call must
// throw a TypeError or RangeError whose message names the argument ("fn: field is value; allowed:
// what", packages/core/native/napi_checks.h), while the process survives.

export type ErrorClass = typeof TypeError | typeof RangeError;

/** [argument index, bad value, error class, message] */
export type Case = [number, unknown, ErrorClass, RegExp];

export type NativeFunctions = Record<string, (...args: unknown[]) => unknown>;

/** fn() must throw an instance of type whose message matches message. */
export function rejects(fn: () => unknown, type: ErrorClass, message: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, `expected a ${type.name} matching ${message}`).toBeInstanceOf(type);
  expect((error as Error).message).toMatch(message);
}

/** A bad value as a test title shows it. */
export function showValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Uint8Array).length})`;
  if (Array.isArray(value)) return `[${value.join(",")}]`;
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * The addon's exports as plain functions, and boundary() over them. boundary(name, good, cases),
 * for one export: good() gives fresh, exactly sized arguments. The call with them works (a promise
 * it returns is awaited); without its last argument it throws; each case replaces one argument and
 * must throw, synchronously, as described (async exports check everything before they queue work).
 */
export function nativeBoundary(addon: object): {
  fns: NativeFunctions;
  boundary: (name: string, good: () => unknown[], cases: Case[]) => void;
} {
  const fns = addon as NativeFunctions;
  const boundary = (name: string, good: () => unknown[], cases: Case[]): void => {
    describe(name, () => {
      const fn = fns[name]!;
      it("works with arguments of exactly the sizes it needs", async () => {
        await fn(...good());
      });
      it("throws on a missing argument", () => {
        const args = good();
        rejects(() => fn(...args.slice(0, -1)), TypeError, new RegExp(`^${name}: expects ${args.length} arguments \\(.*\\); got ${args.length - 1}$`));
      });
      for (const [index, value, type, message] of cases) {
        it(`throws a ${type.name} for argument ${index} = ${showValue(value)}`, () => {
          const args = good();
          args[index] = value;
          rejects(() => fn(...args), type, new RegExp(`^${name}: ${message.source}`));
        });
      }
    });
  };
  return { fns, boundary };
}

/** The seed checks every bigint seed argument gets. */
export const seedCases = (index: number, field = "seed"): Case[] => [
  [index, 1, TypeError, new RegExp(`${field} is 1; allowed: a bigint from 0 to 2\\^64-1`)],
  [index, -1n, RangeError, new RegExp(`${field} is -1n; allowed: a bigint from 0 to 2\\^64-1`)],
  [index, 1n << 64n, RangeError, new RegExp(`${field} is 18446744073709551616n`)],
];

/** array, its buffer transferred away: length 0, no data. */
export function detached<T extends { buffer: ArrayBufferLike }>(array: T): T {
  structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
  return array;
}

/**
 * The addon this process loaded is the build the environment variable names (npm run
 * test:sanitize: an ASan build, so libasan is loaded too), or else the normal build at normalPath.
 */
export function expectLoadedAddon(wanted: string | undefined, normalPath: string): void {
  const maps = readFileSync("/proc/self/maps", "utf8");
  expect(maps).toContain(wanted ?? normalPath);
  // The sanitizer's runtime is there exactly when the sanitizer build is wanted.
  expect(/libasan/.test(maps), "libasan loaded").toBe(wanted !== undefined);
}
