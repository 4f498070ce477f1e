import { InvalidArgument } from "@mnist/errors";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

export type FlagValues<O extends Options> = { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string };

/** node:util parseArgs, strict, with its errors turned into one readable UsageError line. */
export function parseFlags<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  allowPositionals = false,
): { values: FlagValues<O>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals });
    return { values: values as FlagValues<O>, positionals };
  } catch (error) {
    const full = error instanceof Error ? error.message : String(error);
    let message = full.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, "");
    const dashed = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
    if (dashed) message = `${dashed[1]}: a value starting with a dash must be written ${dashed[1]}=VALUE`;
    throw new UsageError(`mnistctl ${command}: ${message}`);
  }
}

export class FlagReader {
  constructor(private readonly command: string) {}

  fail(flag: string, raw: string, allowed: string): never {
    throw new UsageError(`mnistctl ${this.command}: ${new InvalidArgument(`--${flag}`, raw, allowed).message}`);
  }

  number(flag: string, raw: string | undefined): number | undefined {
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value)) this.fail(flag, raw, "a number");
    return value;
  }

  integer(flag: string, raw: string | undefined): number | undefined {
    const value = this.number(flag, raw);
    if (value !== undefined && !Number.isInteger(value)) this.fail(flag, raw!, "a whole number");
    return value;
  }

  bigint(flag: string, raw: string | undefined): bigint | undefined {
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) this.fail(flag, raw, "a whole number from 0 to 2^64-1");
    const value = BigInt(raw);
    if (value >= 1n << 64n) this.fail(flag, raw, "a whole number from 0 to 2^64-1");
    return value;
  }

  integers(flag: string, raw: string | undefined): number[] | undefined {
    if (raw === undefined) return undefined;
    const values = raw.split(",").map((part) => Number(part.trim()));
    if (values.some((value) => !Number.isInteger(value))) this.fail(flag, raw, "comma-separated whole numbers, such as 784,30,10");
    return values;
  }

  choice<const C extends string>(flag: string, raw: string | undefined, choices: readonly C[]): C | undefined {
    if (raw === undefined) return undefined;
    if (!choices.includes(raw as C)) this.fail(flag, raw, `one of ${choices.join(", ")}`);
    return raw as C;
  }

  choices<const C extends string>(flag: string, raw: string | undefined, choices: readonly C[]): C[] | undefined {
    if (raw === undefined) return undefined;
    const values = raw.split(",").map((part) => part.trim());
    for (const value of values) if (!choices.includes(value as C)) this.fail(flag, raw, `comma-separated, from ${choices.join(", ")}`);
    return values as C[];
  }
}
