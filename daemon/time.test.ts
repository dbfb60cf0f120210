import { describe, expect, it } from "vitest";
import { onAbort, sleep } from "./time.ts";

describe("onAbort", () => {
  it("runs the callback once when the signal aborts, and not after it was unlinked", () => {
    const ac = new AbortController();
    let calls = 0;
    onAbort(ac.signal, () => calls++);
    const other = new AbortController();
    let otherCalls = 0;
    const unlink = onAbort(other.signal, () => otherCalls++);
    unlink();
    ac.abort();
    ac.abort();
    other.abort();
    expect(calls).toBe(1);
    expect(otherCalls).toBe(0);
  });

  it("runs the callback at once for a signal that has already aborted (a listener added now never fires)", () => {
    const ac = new AbortController();
    ac.abort();
    let calls = 0;
    const unlink = onAbort(ac.signal, () => calls++);
    expect(calls).toBe(1);
    unlink();
    expect(onAbort(undefined, () => calls++)()).toBeUndefined();
    expect(calls).toBe(1);
  });

  it("sleep returns at once on an aborted signal", async () => {
    const ac = new AbortController();
    ac.abort();
    const t0 = Date.now();
    await sleep(60_000, ac.signal);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
