// host-local's flock Locker when one process runs many calls (flanneld's CNI server): in-process calls
// queue instead of blocking the thread, and a lock held by another process is waited for without
// stopping the rest of the process.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../netns-fixtures/topology/sh.ts";

const BUN = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "bun");
const DRIVER = join(import.meta.dirname, "testing", "flock-driver.ts");
const dir = mkdtempSync(join(tmpdir(), "weft-flock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("host-local's flock lock in a process running many calls", () => {
  it("lets 50 calls of one process hold it one at a time while their critical sections await", async () => {
    const r = await run(BUN, [DRIVER, "queue", join(dir, "lock"), "50"], { timeoutMs: 30_000 });
    expect(JSON.parse(r.stdout) as unknown).toEqual({ most: 1, finished: 50 });
  });

  it("waits for another process's lock without blocking its own thread, and takes it once released", async () => {
    const file = join(dir, "lock2");
    const holder = spawn("flock", [file, "sleep", "0.5"]);
    const exited = new Promise((r) => holder.on("exit", r));
    await new Promise((r) => setTimeout(r, 100));
    const r = await run(BUN, [DRIVER, "other", file], { timeoutMs: 30_000 });
    const got = JSON.parse(r.stdout) as { waitedMs: number; ticks: number };
    expect(got.waitedMs).toBeGreaterThanOrEqual(250);
    expect(got.ticks).toBeGreaterThan(10);
    await exited;
  });
});
