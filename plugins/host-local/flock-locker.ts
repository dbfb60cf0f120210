/**
 * The real Locker for host-local: flock(2) through linux/ffi (bun:ffi), so NOT importable from unit tests.
 * The lock file is opened the way the reference's go-filemutex opens it (O_CREAT|O_RDONLY, 0750)
 * and locked with LOCK_EX, so Weft and the Go host-local exclude each other on one dataDir; it is
 * opened O_NONBLOCK and refused unless it is a regular file (a FIFO there would block the open).
 * The fd is closed when the callback ends, which also drops the lock if unlocking fails.
 * Waiters block in the kernel, like the reference's.
 */
import { closeSync } from "node:fs";
import { LOCK_EX, LOCK_UN, flock } from "../../linux/ffi/libc.ts";
import type { Locker } from "../../linux/locker.ts";
import { trace } from "../../libcni/trace.ts";
import { openLockFile } from "../../net/state-file.ts";

export const flockLocker: Locker = {
  async withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
    const fd = openLockFile(path, 0o750);
    try {
      trace("host-local: lock wait");
      flock(fd, LOCK_EX);
      trace("host-local: locked");
      try {
        return await fn();
      } finally {
        flock(fd, LOCK_UN);
        trace("host-local: unlocked");
      }
    } finally {
      closeSync(fd);
    }
  },
};
