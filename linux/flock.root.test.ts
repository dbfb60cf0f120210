// flock across real processes (the FFI path runs under bun): mutual exclusion, release when the
// holder dies, and a bounded wait that fails with LockTimeoutError.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { BUN, DRIVERS } from "./test-drivers/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-flock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Held {
  acquired: number;
  released: number;
}

function holder(path: string, ms: number, mode = "async") {
  return execa(BUN, [`${DRIVERS}flock.ts`, path, String(ms), mode], { reject: false });
}

async function waitLocked(p: ReturnType<typeof holder>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    p.stderr?.on("data", (d: Buffer) => {
      if (d.toString().includes("locked")) resolve();
    });
    void p.then(() => reject(new Error("holder exited before locking")));
  });
}

describe("file locks", () => {
  it("lets only one process at a time hold the lock, sync and async holders alike", async () => {
    const path = join(dir, "lock-a");
    const runs = await Promise.all([holder(path, 150), holder(path, 150, "sync"), holder(path, 150)]);
    const held = runs.map((r) => JSON.parse(String(r.stdout)) as Held).sort((x, y) => x.acquired - y.acquired);
    for (let i = 1; i < held.length; i++) {
      const prev = held[i - 1];
      const cur = held[i];
      if (!prev || !cur) throw new Error("missing run");
      expect(cur.acquired).toBeGreaterThanOrEqual(prev.released);
    }
  });

  it("releases the lock when the holding process is killed", async () => {
    const path = join(dir, "lock-b");
    const first = holder(path, 60_000);
    await waitLocked(first);
    first.kill("SIGKILL");
    await first;
    const start = Date.now();
    const second = await holder(path, 0);
    expect(JSON.parse(String(second.stdout))).toHaveProperty("acquired");
    expect(Date.now() - start).toBeLessThan(5_000);
  });

  it("gives up after the timeout with LockTimeoutError while another process holds the lock", async () => {
    const path = join(dir, "lock-c");
    const first = holder(path, 1_000);
    await waitLocked(first);
    const second = await holder(path, 0, "timeout:100");
    expect(JSON.parse(String(second.stdout))).toMatchObject({ error: { name: "LockTimeoutError", code: "ETIMEDOUT" } });
    await first;
  });
});
