import { readFileSync } from "node:fs";
import { ConfigError } from "./errors.js";

/** How one environment variable is read: parse returns the value or throws with what is allowed. */
export interface Variable<T> {
  parse(raw: string | undefined, name: string): T;
  /** A secret's value never appears in errors or logs. */
  secret?: boolean;
}

export type EnvSpec<T> = { [K in keyof T]: Variable<T[K]> };

function required<T>(parse: (raw: string) => T | undefined, allowed: string, fallback?: T): Variable<T> {
  return {
    parse(raw, name) {
      if (raw === undefined || raw === "") {
        if (fallback !== undefined) return fallback;
        throw new ConfigError(name, raw, `required; ${allowed}`);
      }
      const value = parse(raw);
      if (value === undefined) throw new ConfigError(name, raw, allowed);
      return value;
    },
  };
}

/** Values the deployment files ship for secrets to be replaced (deploy/k8s/kustomization.yaml). */
const placeholderSecrets = ["change-me"];

export const env = {
  string(options: { default?: string } = {}): Variable<string> {
    return required((raw) => raw, "any text", options.default);
  },
  /**
   * An optional secret (a token, a password): never echoed back. Refused: the placeholder the
   * deployment files ship, and with `minChars` one shorter than that (a short token falls to
   * guessing in seconds).
   */
  secret(options: { minChars?: number } = {}): Variable<string | undefined> {
    const advice = "e.g. the output of openssl rand -hex 32";
    return {
      secret: true,
      parse(raw, name) {
        if (raw === undefined || raw === "") return undefined;
        if (placeholderSecrets.includes(raw.trim())) throw new ConfigError(name, raw, `a secret of your own, not the placeholder the deployment files ship (${advice})`);
        if (options.minChars !== undefined && raw.length < options.minChars) throw new ConfigError(name, raw, `at least ${options.minChars} characters (${advice})`);
        return raw;
      },
    };
  },
  integer(options: { min: number; max: number; default?: number }): Variable<number> {
    const allowed = `an integer from ${options.min} to ${options.max}`;
    return required(
      (raw) => {
        if (!/^-?\d+$/.test(raw.trim())) return undefined;
        const value = Number(raw);
        return value >= options.min && value <= options.max ? value : undefined;
      },
      allowed,
      options.default,
    );
  },
  port(options: { default?: number } = {}): Variable<number> {
    return env.integer({ min: 0, max: 65535, default: options.default });
  },
  /** A port, or undefined when unset or empty (the feature off). */
  optionalPort(): Variable<number | undefined> {
    const port = env.port();
    return { parse: (raw, name) => (raw === undefined || raw.trim() === "" ? undefined : port.parse(raw, name)) };
  },
  url(options: { protocols: readonly string[]; default?: string }): Variable<string> {
    const allowed = `a URL such as ${options.protocols[0]}//host:port (comma-separated for several), scheme ${options.protocols.join(" or ")}`;
    return required(
      (raw) => {
        const urls = raw.split(",").map((part) => part.trim());
        const valid = urls.every((part) => {
          try {
            const url = new URL(part);
            return options.protocols.includes(url.protocol) && url.hostname !== "";
          } catch {
            return false;
          }
        });
        return valid ? urls.join(",") : undefined;
      },
      allowed,
      options.default,
    );
  },
  /**
   * An optional path to a file that must be readable and hold `what` (its first line of PEM
   * armour, such as "-----BEGIN CERTIFICATE-----", matched by `looksRight`). The value is the
   * path; the file's contents never appear in an error.
   */
  file(what: string, looksRight: (text: string) => boolean): Variable<string | undefined> {
    return {
      parse(raw, name) {
        if (raw === undefined || raw === "") return undefined;
        let text: string;
        try {
          text = readFileSync(raw, "utf8");
        } catch (error) {
          throw new ConfigError(name, raw, `a readable file holding ${what} (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`);
        }
        if (!looksRight(text)) throw new ConfigError(name, raw, `a file holding ${what}`);
        return raw;
      },
    };
  },
  oneOf<const V extends string>(values: readonly V[], options: { default?: V } = {}): Variable<V> {
    return required((raw) => (values.includes(raw as V) ? (raw as V) : undefined), `one of ${values.join(", ")}`, options.default);
  },
};

/** A rule across variables (such as "both or neither"), run after each has been read; throws a ConfigError. */
export type ConfigCheck<T> = (config: T) => void;

/** Reads every variable of the spec, then runs `check`; the first bad one throws a ConfigError naming it. */
export function loadConfig<T>(spec: EnvSpec<T>, source: NodeJS.ProcessEnv = process.env, check?: ConfigCheck<T>): T {
  const config = {} as T;
  for (const name of Object.keys(spec) as (keyof T & string)[]) {
    const variable = spec[name];
    try {
      config[name] = variable.parse(variable.secret ? secretValue(source, name) : source[name], name);
    } catch (error) {
      if (error instanceof ConfigError && variable.secret && error.variable === name) throw new ConfigError(error.variable, "(secret)", error.allowed);
      throw error;
    }
  }
  check?.(config);
  return config;
}

/**
 * A secret's raw value: the variable itself, or the contents of the file `<NAME>_FILE` names (a
 * Docker or Kubernetes secret mounted as a file), without its final line break. Not both.
 */
function secretValue(source: NodeJS.ProcessEnv, name: string): string | undefined {
  const path = source[`${name}_FILE`];
  if (path === undefined || path === "") return source[name];
  if (source[name] !== undefined && source[name] !== "") throw new ConfigError(`${name}_FILE`, path, `unset when ${name} is set (one source for a secret)`);
  try {
    return readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    throw new ConfigError(`${name}_FILE`, path, `a readable file holding ${name} (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`);
  }
}

/** loadConfig for a process's start-up: a bad value prints one line to stderr and exits with code 2. */
export function loadConfigOrExit<T>(spec: EnvSpec<T>, source: NodeJS.ProcessEnv = process.env, check?: ConfigCheck<T>): T {
  try {
    return loadConfig(spec, source, check);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(2);
  }
}
