import { describe, expect, it } from "vitest";
import { randomHex } from "./random.ts";

describe("randomHex", () => {
  it("gives two lower-case hex digits per byte", () => {
    expect(randomHex(4)).toMatch(/^[0-9a-f]{8}$/);
    expect(randomHex(0)).toBe("");
  });

  it("gives different values on successive calls", () => {
    const seen = new Set(Array.from({ length: 50 }, () => randomHex(4)));
    expect(seen.size).toBeGreaterThan(45);
  });
});
