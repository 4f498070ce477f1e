import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { costCodes, costs, createNetwork, decodeCheckpoint, encodeCheckpoint, type CostName } from "../src/index.js";

// costCodes (src/options.ts) is the one table of the costs' numbers; these check the places that
// cannot import it. (That the native code computes the cost each name stands for is checked
// against the TypeScript reference, cost by cost, in gradient.test.ts.)

describe("the cost codes", () => {
  it("agree with native/network.h's COST_* enum", () => {
    const header = readFileSync(new URL("../native/network.h", import.meta.url), "utf8");
    const declaration = /enum\s*\{([^}]*\bCOST_[^}]*)\}/.exec(header);
    expect(declaration, "native/network.h declares the COST_* enum").not.toBeNull();
    const native = Object.fromEntries(
      [...declaration![1]!.matchAll(/COST_(\w+)\s*=\s*(\d+)/g)].map(([, name, value]) => [name!.toLowerCase().replace(/_/g, "-"), Number(value)]),
    );
    expect(native).toEqual(Object.fromEntries(costs.map((cost) => [cost, costCodes[cost].native])));
  });

  it("keep the checkpoint codes stored checkpoints hold", () => {
    // Written out on purpose: checkpoints already stored carry these numbers, so a change to
    // costCodes' checkpoint codes must fail here rather than misread them.
    const stored: Record<CostName, number> = { "cross-entropy": 0, quadratic: 1, "log-likelihood": 2 };
    expect(Object.fromEntries(costs.map((cost) => [cost, costCodes[cost].checkpoint]))).toEqual(stored);
    for (const cost of costs) {
      const bytes = encodeCheckpoint(createNetwork({ sizes: [3, 2], cost }, 1));
      // magic, version, layer count, 2 sizes, activation, then the cost
      const costOffset = 4 * 6;
      expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(costOffset, true), cost).toBe(stored[cost]);
      expect(decodeCheckpoint(bytes).network.spec.cost).toBe(cost);
    }
  });
});
