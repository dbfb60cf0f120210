import { describe, expect, it } from "vitest";
import { percentile, summary, table } from "./stats.ts";

describe("benchmark statistics", () => {
  it("takes nearest-rank percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(summary([3, 1, 2])).toEqual({ p50: 2, p90: 3, p99: 3, n: 3 });
  });
  it("aligns table columns", () => {
    expect(table(["a", "bb"], [["xxx", "y"]])).toBe("a    bb\n---  --\nxxx  y");
  });
});
