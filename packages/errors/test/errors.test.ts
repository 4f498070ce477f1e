import { describe, expect, it } from "vitest";
import { formatValue, InvalidArgument } from "../src/index.js";

describe("one way to say what is wrong", () => {
  it("names the field, the value and what is allowed, in one format, and re-homes the field", () => {
    const error = new InvalidArgument("eta", -1, "a learning rate from 1e-20 to 1000000");
    expect(error.message).toBe("eta is -1; allowed: a learning rate from 1e-20 to 1000000");
    expect(error.code).toBe("INVALID_ARGUMENT");
    const within = error.within("spec.");
    expect(within).toBeInstanceOf(InvalidArgument);
    expect(within.message).toBe("spec.eta is -1; allowed: a learning rate from 1e-20 to 1000000");
    expect([within.field, within.value, within.allowed]).toEqual(["spec.eta", -1, "a learning rate from 1e-20 to 1000000"]);
  });

  it("quotes a value, never a request's megabytes", () => {
    expect(formatValue("a:b")).toBe('"a:b"');
    // What would reorder or hide part of the message is escaped: a right-to-left override, a zero-width space, a lone surrogate.
    expect(formatValue("run-\u202Egnp.exe\u200B\uD800")).toBe('"run-\\u202egnp.exe\\u200b\\ud800"');
    expect(formatValue("x".repeat(3_000_000))).toBe(`${JSON.stringify("x".repeat(64))}… (3000000 characters)`);
    expect(formatValue([784, 30, 10])).toBe("[784,30,10]");
    expect(formatValue(Array.from({ length: 300_000 }, (_, i) => i))).toBe("[0,1,2,3,4,5,6,7,8,9,10,11,…] (300000 items)");
    expect(formatValue(new Uint8Array(5))).toBe("Uint8Array(5)");
    expect(formatValue(2n ** 64n)).toBe("18446744073709551616");
    expect(formatValue(Number.NaN)).toBe("NaN");
    expect(formatValue({ rotateProbability: 2 })).toBe('{"rotateProbability":2}');
  });
});
