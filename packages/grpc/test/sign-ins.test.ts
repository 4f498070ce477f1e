import { describe, expect, it } from "vitest";
import { FailedSignIns, hostOfPeer } from "../src/index.js";

describe("failed sign-ins by address", () => {
  it("lets the first few failures through, then makes the address wait, twice as long after each further failure, up to a limit", () => {
    const signIns = new FailedSignIns({ free: 3, windowMs: 60_000, firstWaitMs: 1_000, maxWaitMs: 4_000 });
    const peer = "10.0.0.7:51234";
    expect([0, 1, 2].map((i) => signIns.failed(peer, 1_000 + i))).toEqual([0, 0, 0]);
    expect(signIns.failed(peer, 2_000)).toBe(1_000);
    expect(signIns.waitMs("10.0.0.7:60000", 2_500)).toBe(500); // the same host from another port
    expect(signIns.waitMs("10.0.0.8:51234", 2_500)).toBe(0); // another host
    expect(signIns.failed(peer, 3_000)).toBe(2_000);
    expect(signIns.failed(peer, 5_000)).toBe(4_000);
    expect(signIns.failed(peer, 9_000)).toBe(4_000);
    // Failures older than the window are forgotten.
    expect(signIns.failed(peer, 100_000)).toBe(0);
  });

  it("remembers a bounded number of addresses, the oldest forgotten first", () => {
    const signIns = new FailedSignIns({ free: 0, maxAddresses: 2 });
    for (const peer of ["1.1.1.1:1", "2.2.2.2:1", "3.3.3.3:1"]) signIns.failed(peer, 0);
    expect(["1.1.1.1:1", "2.2.2.2:1", "3.3.3.3:1"].map((peer) => signIns.waitMs(peer, 1) > 0)).toEqual([false, true, true]);
  });

  it("reads the host of every peer form grpc-js and Node give", () => {
    expect(["127.0.0.1:5000", "ipv4:127.0.0.1:5000", "[::1]:5000", "ipv6:[::1]:5000", "::1", "::ffff:127.0.0.1", "10.1.2.3"].map(hostOfPeer)).toEqual([
      "127.0.0.1",
      "127.0.0.1",
      "::1",
      "::1",
      "::1",
      "::ffff:127.0.0.1",
      "10.1.2.3",
    ]);
  });
});
