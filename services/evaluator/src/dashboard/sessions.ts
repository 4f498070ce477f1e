import { createHmac, randomBytes } from "node:crypto";
import { sameSecret } from "@mnist/grpc";

/**
 * Dashboard sessions: a cookie that carries its own expiry, signed with the cluster's token. It is
 * never the token itself; it ends at its expiry, when the token changes (the signature no longer
 * matches), or at sign-out (its nonce is revoked until it would have expired anyway).
 */

/** How long a sign-in lasts. */
export const sessionLifetimeMs = 12 * 60 * 60 * 1000;

const mac = (token: string, text: string) => createHmac("sha256", token).update(`mnist-pipeline dashboard session|${text}`).digest("hex");

export interface Session {
  value: string;
  expiresAt: number;
  nonce: string;
}

/** A new session's cookie value: `expiry.nonce.signature`, the expiry in milliseconds since the epoch. */
export function issueSession(token: string, now: number): Session {
  const expiresAt = now + sessionLifetimeMs;
  const nonce = randomBytes(16).toString("hex");
  return { value: `${expiresAt}.${nonce}.${mac(token, `${expiresAt}.${nonce}`)}`, expiresAt, nonce };
}

/** The session a cookie value holds, when it is signed with `token` and not expired; undefined otherwise. */
export function verifySession(token: string, value: string, now: number): Session | undefined {
  const match = /^(\d{13,15})\.([0-9a-f]{32})\.([0-9a-f]{64})$/.exec(value);
  if (!match) return undefined;
  const [, expiry, nonce, signature] = match as unknown as [string, string, string, string];
  if (!sameSecret(signature, mac(token, `${expiry}.${nonce}`))) return undefined;
  const expiresAt = Number(expiry);
  return expiresAt > now ? { value, expiresAt, nonce } : undefined;
}

/** Signed-out sessions, each forgotten once it would have expired anyway. */
export class RevokedSessions {
  private readonly revoked = new Map<string, number>();

  revoke(session: Session): void {
    this.revoked.set(session.nonce, session.expiresAt);
  }

  has(session: Session, now: number): boolean {
    for (const [nonce, expiresAt] of this.revoked) if (expiresAt <= now) this.revoked.delete(nonce);
    return this.revoked.has(session.nonce);
  }
}
