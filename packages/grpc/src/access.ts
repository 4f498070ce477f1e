import { createHash, timingSafeEqual } from "node:crypto";
import { credentials, ServerCredentials, type ChannelCredentials, type Metadata } from "@grpc/grpc-js";
import { GrpcStatusError, status } from "./errors.js";
import type { Authorize } from "./handlers.js";
import { FailedSignIns, hostOfPeer } from "./sign-ins.js";

/** PEM contents (not paths) for a TLS server: its certificate chain and key; with `ca`, clients must present a certificate it signed (mutual TLS). */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** PEM contents for a TLS client: `ca` to verify the server (unset: the system's roots); `cert` + `key` for mutual TLS. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** How a client reaches a server: plaintext unless `tls`, and a bearer token sent with every call when `token`, with `headers` (metadata) beside it. */
export interface ClientAccess {
  tls?: ClientTls;
  token?: string;
  headers?: Record<string, string>;
}

export function serverCredentials(tls: ServerTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.ca !== undefined);
}

let ipServernameWarningFiltered = false;

/**
 * grpc-js sends the dialled host as the TLS server name even when it is an IP address (the
 * evaluator dials trainers by pod IP, the launcher its services on 127.0.0.1), and Node then
 * prints a DEP0123 deprecation warning on stderr. The certificate is still verified against the
 * IP (its subjectAltName IP entries); only that one warning is dropped, every other passes.
 */
function filterIpServernameWarning(): void {
  if (ipServernameWarningFiltered) return;
  ipServernameWarningFiltered = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const options = rest[0];
    const code = typeof options === "object" && options !== null ? (options as { code?: string }).code : rest[1];
    if (code === "DEP0123") return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

export function channelCredentials(tls: ClientTls | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  filterIpServernameWarning();
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

const digest = (value: string | Buffer) => createHash("sha256").update(value).digest();

/** Compares two secrets in constant time, whatever their lengths (both hashed to SHA-256 first). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export interface TokenCheckOptions {
  /** Failed attempts by address, shared with the process's other doors; an address past its free failures is refused unread. */
  signIns?: FailedSignIns;
  /** Each refused call: where from and why (never the value presented). */
  onRefused?: (peer: string, reason: "missing-token" | "invalid-token" | "too-many-failures") => void;
}

/**
 * A check of the `authorization: Bearer <token>` metadata, in constant time (both sides hashed
 * to SHA-256 first, so the comparison never depends on the lengths). Throws UNAUTHENTICATED
 * without echoing what was presented; RESOURCE_EXHAUSTED, without looking at the token, for an
 * address that has failed too often of late.
 */
export function bearerTokenCheck(token: string, { signIns = new FailedSignIns(), onRefused = () => undefined }: TokenCheckOptions = {}): Authorize {
  const expected = digest(token);
  return (metadata, peer) => {
    const waitMs = signIns.waitMs(peer);
    if (waitMs > 0) {
      onRefused(peer, "too-many-failures");
      throw new GrpcStatusError(status.RESOURCE_EXHAUSTED, `too many failed sign-ins from ${hostOfPeer(peer)}: try again in ${Math.ceil(waitMs / 1000)} s`);
    }
    const values = metadata.get("authorization");
    const presented = values.length === 1 ? String(values[0]) : "";
    const match = /^Bearer (.+)$/i.exec(presented);
    if (!match) {
      onRefused(peer, "missing-token");
      throw new GrpcStatusError(status.UNAUTHENTICATED, "missing bearer token: send metadata authorization: Bearer <token>");
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      signIns.failed(peer);
      onRefused(peer, "invalid-token");
      throw new GrpcStatusError(status.UNAUTHENTICATED, "invalid bearer token");
    }
  };
}
