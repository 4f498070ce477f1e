import { InvalidArgument } from "@mnist/errors";
import { readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import type { ClientAccess, ClientTls } from "@mnist/grpc";
import { UsageError } from "./errors.js";

/** The flags every cluster command takes to reach the evaluator (or, for health, any service). */
export const connectionFlags = {
  server: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
} as const;

export interface ConnectionFlags {
  server?: string;
  token?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export const connectionHelp = [
  "connection (every cluster command; the environment variable is used when the flag is not given):",
  "  --server HOST:PORT   MNISTCTL_SERVER   the evaluator (default localhost:50051)",
  "  --token TOKEN        MNISTCTL_TOKEN    bearer token, when the services have AUTH_TOKEN",
  "  --ca FILE            MNISTCTL_CA       PEM CA to verify the server's TLS certificate (TLS on)",
  "  --cert FILE --key FILE  MNISTCTL_CERT, MNISTCTL_KEY  client certificate and key for mutual TLS",
].join("\n");

const fromEnv = (name: string) => process.env[name] || undefined;

function readPem(command: string, flag: string, path: string, what: string, looksRight: RegExp): Buffer {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (error) {
    throw new UsageError(`mnistctl ${command}: ${new InvalidArgument(`--${flag}`, path, `a readable file holding ${what} (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`).message}`);
  }
  if (!looksRight.test(text.toString("utf8"))) throw new UsageError(`mnistctl ${command}: ${new InvalidArgument(`--${flag}`, path, `a file holding ${what}`).message}`);
  return text;
}

/**
 * TLS and bearer token from --ca/--cert/--key/--token, else MNISTCTL_CA/CERT/KEY/TOKEN. Any of
 * the files turns TLS on (no --ca: the system's roots verify the server). The token is never
 * echoed in an error.
 */
export function clientAccess(command: string, flags: ConnectionFlags = {}): ClientAccess {
  const token = flags.token ?? fromEnv("MNISTCTL_TOKEN");
  const ca = flags.ca ?? fromEnv("MNISTCTL_CA");
  const cert = flags.cert ?? fromEnv("MNISTCTL_CERT");
  const key = flags.key ?? fromEnv("MNISTCTL_KEY");
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(`mnistctl ${command}: --${cert === undefined ? "cert" : "key"} is required with --${cert === undefined ? "key" : "cert"} (mutual TLS needs the certificate and its key)`);
  }
  if (token !== undefined && (token.trim() === "" || /[\r\n]/.test(token))) throw new UsageError(`mnistctl ${command}: --token is not one line of non-blank text (its value is not repeated: a secret)`);
  let tls: ClientTls | undefined;
  if (ca !== undefined || cert !== undefined) {
    tls = {};
    if (ca !== undefined) tls.ca = readPem(command, "ca", ca, "a PEM certificate", /-----BEGIN CERTIFICATE-----/);
    if (cert !== undefined) tls.cert = readPem(command, "cert", cert, "a PEM certificate", /-----BEGIN CERTIFICATE-----/);
    if (key !== undefined) tls.key = readPem(command, "key", key, "a PEM private key", /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----/);
  }
  return { ...(tls ? { tls } : {}), ...(token !== undefined ? { token } : {}), headers: { "x-mnist-actor": actorName() } };
}

/**
 * How this user is named in a run's audit trail (launches, changes, stops): MNISTCTL_ACTOR, or
 * user@host. Self-declared, beside the address the evaluator sees; the bearer token is the check.
 */
function actorName(): string {
  let name = fromEnv("MNISTCTL_ACTOR");
  if (name === undefined) {
    try {
      name = `${userInfo().username}@${hostname()}`;
    } catch {
      // No passwd entry for this uid (a container's arbitrary user).
      name = `uid ${process.getuid?.() ?? "?"}@${hostname()}`;
    }
  }
  // gRPC metadata carries printable ASCII only; the evaluator takes up to 128 characters.
  return name.replace(/[^\x20-\x7e]/g, "?").slice(0, 128);
}

