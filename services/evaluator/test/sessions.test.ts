import { describe, expect, it } from "vitest";
import { issueSession, RevokedSessions, sessionLifetimeMs, verifySession } from "../src/dashboard/sessions.js";
import { hostAllowed, originAllowed } from "../src/dashboard/hosts.js";

const token = "a-token-of-at-least-32-characters-0123";

describe("dashboard sessions", () => {
  it("hold while signed with the token and unexpired; a new token (rotation), the end of the lifetime or a sign-out ends them", () => {
    const now = 1_800_000_000_000;
    const session = issueSession(token, now);
    expect(session.expiresAt).toBe(now + sessionLifetimeMs);
    expect(verifySession(token, session.value, now + 1)).toEqual(session);
    expect(verifySession(`${token}-rotated`, session.value, now + 1)).toBeUndefined();
    expect(verifySession(token, session.value, session.expiresAt)).toBeUndefined();
    expect(verifySession(token, session.value.replace(/^\d+/, String(session.expiresAt + 1)), now + 1)).toBeUndefined();
    const revoked = new RevokedSessions();
    revoked.revoke(session);
    expect(revoked.has(session, now + 1)).toBe(true);
    expect(revoked.has(issueSession(token, now), now + 1)).toBe(false);
  });
});

describe("the dashboard's Host and Origin rules", () => {
  it("answer IP addresses, localhost and the listed names; take changes only from the dashboard's own origin", () => {
    const listed = ["mnist.example.org", "*.lab.example.org"];
    for (const host of ["127.0.0.1:8080", "[::1]:8080", "10.1.2.3", "localhost:8080", "a.localhost", "mnist.example.org", "MNIST.example.org.", "x.lab.example.org:443"]) expect(hostAllowed(host, listed), host).toBe(true);
    for (const host of [undefined, "", "evil.example", "localhost.evil.example", "mnist.example.org.evil", "lab.example.org", "a b", "[::1"]) expect(hostAllowed(host, listed), String(host)).toBe(false);
    expect(originAllowed(undefined, "127.0.0.1:8080", "http")).toBe(true);
    expect(originAllowed("http://127.0.0.1:8080", "127.0.0.1:8080", "http")).toBe(true);
    for (const origin of ["http://evil.example", "null", "https://127.0.0.1:8080", "http://127.0.0.1:8081"]) expect(originAllowed(origin, "127.0.0.1:8080", "http"), origin).toBe(false);
  });
});
