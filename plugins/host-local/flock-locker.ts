/**
 * The real FileLocker: flock(2) through linux/ffi (bun:ffi), so NOT importable from unit tests.
 * The lock file is opened the way the reference's go-filemutex opens it (O_CREAT|O_RDONLY, 0750)
 * and locked with LOCK_EX, so Weft and the Go host-local exclude each other on one dataDir.
 * The fd is closed when the callback ends, which also drops the lock if unlocking fails.
 */
import { LOCK_EX, LOCK_UN, O_CREAT, O_RDONLY, close, flock, open } from "../../linux/ffi/libc.ts";
import type { FileLocker } from "./disk-store.ts";

export const flockLocker: FileLocker = {
  async withLock<T>(path: string, fn: () => T): Promise<T> {
    const fd = open(path, O_CREAT | O_RDONLY, 0o750);
    try {
      flock(fd, LOCK_EX);
      try {
        return fn();
      } finally {
        flock(fd, LOCK_UN);
      }
    } finally {
      close(fd);
    }
  },
};
