import { describe, expect, it } from "vitest";
import { MemoryLocker } from "./locker.ts";

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("MemoryLocker (fake Locker)", () => {
  it("runs holders of the same path one after the other", async () => {
    const l = new MemoryLocker();
    const log: string[] = [];
    const job = (name: string) => async () => {
      log.push(`${name}+`);
      await tick(5);
      log.push(`${name}-`);
      return name;
    };
    expect(await Promise.all([l.withLock("/a", job("x")), l.withLock("/a", job("y"))])).toEqual(["x", "y"]);
    expect(log).toEqual(["x+", "x-", "y+", "y-"]);
  });

  it("lets different paths proceed together and releases after a throw", async () => {
    const l = new MemoryLocker();
    const log: string[] = [];
    await Promise.all([
      l.withLock("/a", async () => {
        log.push("a+");
        await tick(5);
        log.push("a-");
      }),
      l.withLock("/b", () => {
        log.push("b");
      }),
    ]);
    expect(log.indexOf("b")).toBeLessThan(log.indexOf("a-"));
    await expect(l.withLock("/a", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await l.withLock("/a", () => 7)).toBe(7);
    expect(l.taken).toEqual(["/a", "/b", "/a", "/a"]);
  });
});
