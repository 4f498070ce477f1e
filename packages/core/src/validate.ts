import { invalidArgument } from "@mnist/errors";

// Argument checks shared by every entry point. They run before any native call: the addon
// trusts what it is given, so anything that could make it read out of bounds stops here.

export function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(field, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

/** A finite number in [min, max] or, with maxExclusive / minExclusive, the half-open range. */
export function checkNumber(
  field: string,
  value: unknown,
  min: number,
  max: number,
  options: { minExclusive?: boolean; maxExclusive?: boolean } = {},
): number {
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (options.minExclusive ? value > min : value >= min) &&
    (options.maxExclusive ? value < max : value <= max);
  if (!ok) {
    const low = options.minExclusive ? `(${min}` : `[${min}`;
    const high = Number.isFinite(max) ? (options.maxExclusive ? `${max})` : `${max}]`) : "∞)";
    throw invalidArgument(field, value, `a finite number in ${low}, ${high}`);
  }
  return value;
}

export function checkBoolean(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidArgument(field, value, "true or false");
  return value;
}

export function checkOneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgument(field, value, allowed.map((a) => JSON.stringify(a)).join(" | "));
  }
  return value as T;
}

/** Rejects keys the caller probably misspelt ("lamda"), instead of silently using a default. */
export function checkKnownKeys(field: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw invalidArgument(`${field}.${key}`, (value as Record<string, unknown>)[key], `no such option; known: ${known.join(", ")}`);
  }
}

export function checkObject(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidArgument(field, value, "an object");
  return value as Record<string, unknown>;
}

export type Seed = bigint | number;
const MAX_U64 = (1n << 64n) - 1n;

/** Seeds are unsigned 64-bit; numbers are accepted when they are exact (safe) integers. */
export function checkSeed(field: string, value: unknown): bigint {
  if (typeof value === "bigint" && value >= 0n && value <= MAX_U64) return value;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw invalidArgument(field, value, "a bigint in [0, 2^64) or a non-negative safe integer");
}

/** Pixels (uint8, read as pixel/255) or raw float inputs, exactly count × width long. */
export function checkInputs(field: string, value: unknown, count: number, width: number): Uint8Array | Float32Array {
  const expected = count * width;
  if (value instanceof Uint8Array) {
    if (value.length !== expected) throw invalidArgument(`${field}.length`, value.length, `${expected} (count ${count} × input size ${width})`);
    return value;
  }
  if (value instanceof Float32Array) {
    if (value.length !== expected) throw invalidArgument(`${field}.length`, value.length, `${expected} (count ${count} × input size ${width})`);
    for (let i = 0; i < value.length; i++) {
      if (!Number.isFinite(value[i])) throw invalidArgument(`${field}[${i}]`, value[i], "a finite number");
    }
    return value;
  }
  throw invalidArgument(field, value, "a Uint8Array of pixels or a Float32Array of inputs");
}

/** Labels are class indices: one byte per example, each below the number of outputs. */
export function checkLabels(field: string, value: unknown, count: number, classes: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidArgument(field, value, "a Uint8Array of class indices");
  if (value.length !== count) throw invalidArgument(`${field}.length`, value.length, `${count} (one label per example)`);
  for (let i = 0; i < value.length; i++) {
    if (value[i]! >= classes) throw invalidArgument(`${field}[${i}]`, value[i], `a class index below ${classes} (the output layer's size)`);
  }
  return value;
}
