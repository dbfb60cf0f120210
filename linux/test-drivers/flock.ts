/**
 * Root-test driver (bun): take the exclusive lock on argv[2], hold it argv[3] ms, print
 * {acquired, released} epoch ms, both read while the lock is held (a time read after the unlock
 * could come after the next holder's `acquired` when this process is descheduled in between).
 * argv[4]: "sync" | "async" (default) | "timeout:<ms>".
 * Prints "locked" on stderr once it holds the lock, so a test can wait for that.
 */
import { withFileLock, withFileLockSync } from "../flock.ts";

const [path = "", holdText = "0", mode = "async"] = process.argv.slice(2);
const hold = Number(holdText);

function busyWait(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function main(): Promise<void> {
  let acquired = 0;
  let released = 0;
  if (mode === "sync") {
    withFileLockSync(path, () => {
      acquired = Date.now();
      process.stderr.write("locked\n");
      busyWait(hold);
      released = Date.now();
    });
  } else {
    const timeoutMs = mode.startsWith("timeout:") ? Number(mode.slice(8)) : undefined;
    try {
      await withFileLock(
        path,
        async () => {
          acquired = Date.now();
          process.stderr.write("locked\n");
          await new Promise((r) => setTimeout(r, hold));
          released = Date.now();
        },
        timeoutMs !== undefined ? { timeoutMs } : {},
      );
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ error: { name: (e as Error).name, code: (e as { code?: string }).code, message: (e as Error).message } })}\n`);
      return;
    }
  }
  process.stdout.write(`${JSON.stringify({ acquired, released })}\n`);
}

void main();
