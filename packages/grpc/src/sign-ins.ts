/**
 * Failed sign-ins (a wrong bearer token over gRPC, a wrong token on the dashboard), by the address
 * they came from: the first few in a while are free; past them, the address is refused without its
 * token being looked at, for a pause that doubles with each further failure (up to a minute), so
 * guessing a token runs at a few tries a minute instead of thousands a second. A success does not
 * clear an address (another client there would launder a guesser's failures); failures older than
 * the window are forgotten. The price: while an address waits, its other clients wait too. One
 * instance per process, shared by every door a token comes in by.
 */
export interface SignInPolicy {
  /** Failures an address may have within `windowMs` before it must wait. */
  free: number;
  windowMs: number;
  /** The first wait; each failure after it doubles the wait, up to `maxWaitMs`. */
  firstWaitMs: number;
  maxWaitMs: number;
  /** Addresses remembered at most (the oldest forgotten first): a flood of addresses cannot grow memory. */
  maxAddresses: number;
}

export const signInDefaults: SignInPolicy = { free: 5, windowMs: 60_000, firstWaitMs: 1_000, maxWaitMs: 60_000, maxAddresses: 10_000 };

interface Record {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

/** The host part of a peer (`1.2.3.4:5678`, `[::1]:5678`, `ipv4:…`): attempts are counted per host, whatever port they use. */
export function hostOfPeer(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, "");
  const bracketed = /^\[([^\]]+)\]/.exec(bare);
  if (bracketed) return bracketed[1]!;
  const colons = bare.split(":").length - 1;
  return colons === 1 ? bare.slice(0, bare.lastIndexOf(":")) : bare;
}

export class FailedSignIns {
  private readonly byAddress = new Map<string, Record>();
  private readonly policy: SignInPolicy;

  constructor(policy: Partial<SignInPolicy> = {}) {
    this.policy = { ...signInDefaults, ...policy };
  }

  /** Milliseconds the address must still wait before its token is checked (0: check it now). */
  waitMs(peer: string, now = Date.now()): number {
    const record = this.byAddress.get(hostOfPeer(peer));
    return record ? Math.max(0, record.blockedUntil - now) : 0;
  }

  /** Counts a failure; the wait it now has (0 while it has failures to spare). */
  failed(peer: string, now = Date.now()): number {
    const address = hostOfPeer(peer);
    const { free, windowMs, firstWaitMs, maxWaitMs, maxAddresses } = this.policy;
    let record = this.byAddress.get(address);
    if (!record || now - record.lastFailure > windowMs) record = { failures: 0, lastFailure: now, blockedUntil: 0 };
    record.failures++;
    record.lastFailure = now;
    const over = record.failures - free;
    if (over > 0) record.blockedUntil = now + Math.min(maxWaitMs, firstWaitMs * 2 ** Math.min(over - 1, 30));
    // Refreshed as the newest; the oldest goes when there are too many.
    this.byAddress.delete(address);
    this.byAddress.set(address, record);
    if (this.byAddress.size > maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value!);
    return Math.max(0, record.blockedUntil - now);
  }
}
