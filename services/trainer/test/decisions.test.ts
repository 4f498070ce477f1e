import { Decision } from "@mnist/protocol";
import { describe, expect, it } from "vitest";
import { DecisionMailbox, type EpochVerdict } from "../src/decisions.js";

const verdict = (eta: number, decision = Decision.CONTINUE): EpochVerdict => ({ decision, eta, reason: "" });

const pending = Symbol("pending");
/**
 * The promise's value if it has settled by now, else `pending`: a settled promise's reaction is
 * queued before the marker's, so Promise.race picks it. No timer, and a wait that should have
 * been answered fails the test at once instead of hanging it.
 */
const settled = <T>(promise: Promise<T>): Promise<T | typeof pending> => Promise.race([promise, Promise.resolve(pending)]);

describe("DecisionMailbox", () => {
  it("hands over a decision delivered before the run loop waits for it", async () => {
    const mailbox = new DecisionMailbox();
    mailbox.deliver(0, verdict(0.5));
    await expect(settled(mailbox.wait(0, new AbortController().signal))).resolves.toEqual(verdict(0.5));
  });

  it("hands over a decision delivered while the run loop waits for it", async () => {
    const mailbox = new DecisionMailbox();
    const waiting = mailbox.wait(0, new AbortController().signal);
    expect(await settled(waiting)).toBe(pending);
    mailbox.deliver(0, verdict(0.25, Decision.DECAY_ETA));
    await expect(settled(waiting)).resolves.toEqual(verdict(0.25, Decision.DECAY_ETA));
  });

  it("drops repeats of a decision already taken and decisions for earlier epochs", async () => {
    const mailbox = new DecisionMailbox();
    mailbox.deliver(0, verdict(0.5));
    expect(await settled(mailbox.wait(0, new AbortController().signal))).toEqual(verdict(0.5));
    // The evaluator repeats decisions it is not sure arrived (a restart, a resend pass).
    mailbox.deliver(0, verdict(0.125));
    const second = mailbox.wait(1, new AbortController().signal);
    mailbox.deliver(0, verdict(0.125));
    expect(await settled(second)).toBe(pending);
    mailbox.deliver(1, verdict(0.5));
    expect(await settled(second)).toEqual(verdict(0.5));

    // A decision for epoch 2 that arrives early and is then overtaken is dropped when epoch 3 is waited for.
    mailbox.deliver(2, verdict(0.5));
    const third = mailbox.wait(3, new AbortController().signal);
    mailbox.deliver(2, verdict(0.125));
    mailbox.deliver(3, verdict(0.5));
    expect(await settled(third)).toEqual(verdict(0.5));
    const late = new AbortController();
    const stale = mailbox.wait(2, late.signal);
    expect(await settled(stale)).toBe(pending);
    late.abort(new Error("test over"));
    await expect(stale).rejects.toThrow("test over");
  });

  it("rejects a wait when its signal aborts, and lets go of it: the next delivery waits for the next wait", async () => {
    const mailbox = new DecisionMailbox();
    const stop = new AbortController();
    const waiting = mailbox.wait(0, stop.signal);
    stop.abort(new Error("run stopped"));
    await expect(waiting).rejects.toThrow("run stopped");
    // Not handed to the aborted waiter (lost): kept for the loop that waits next.
    mailbox.deliver(0, verdict(0.25, Decision.DECAY_ETA));
    await expect(settled(mailbox.wait(0, new AbortController().signal))).resolves.toEqual(verdict(0.25, Decision.DECAY_ETA));
  });

  it("rejects at once a wait whose signal has already aborted", async () => {
    const mailbox = new DecisionMailbox();
    const stop = new AbortController();
    stop.abort(new Error("stopped before the epoch ended"));
    await expect(mailbox.wait(0, stop.signal)).rejects.toThrow("stopped before the epoch ended");
  });

  it("keeps a decision for a later epoch until that epoch is waited for", async () => {
    const mailbox = new DecisionMailbox();
    const first = mailbox.wait(0, new AbortController().signal);
    mailbox.deliver(2, verdict(0.125, Decision.STOP));
    expect(await settled(first)).toBe(pending);
    mailbox.deliver(0, verdict(0.5));
    expect(await settled(first)).toEqual(verdict(0.5));
    mailbox.deliver(1, verdict(0.25, Decision.DECAY_ETA));
    expect(await settled(mailbox.wait(1, new AbortController().signal))).toEqual(verdict(0.25, Decision.DECAY_ETA));
    await expect(settled(mailbox.wait(2, new AbortController().signal))).resolves.toEqual(verdict(0.125, Decision.STOP));
  });
});
