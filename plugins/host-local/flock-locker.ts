/**
 * The real Locker for host-local: flock(2) through linux/ffi (bun:ffi), so NOT importable from unit tests.
 * The lock file is opened the way the reference's go-filemutex opens it (O_CREAT|O_RDONLY, 0750)
 * and locked with LOCK_EX, so Weft and the Go host-local exclude each other on one dataDir; it is
 * opened O_NONBLOCK and refused unless it is a regular file (a FIFO there would block the open).
 * The fd is closed when the callback ends, which also drops the lock if unlocking fails.
 *
 * One process may run several calls at once (flanneld's CNI server): calls of this process queue in
 * JavaScript for a path, and only the one at the head takes the flock, without blocking the thread
 * (LOCK_NB, retried after short sleeps while another process holds it). A blocking flock here would
 * stop every other call of the process, and deadlock when the holder is a call of this process
 * waiting for its turn on the same thread.
 */
import { closeSync } from "node:fs";
import { SyscallError } from "../../linux/errors.ts";
import { Errno } from "../../linux/errno.ts";
import { LOCK_EX, LOCK_NB, LOCK_UN, flock } from "../../linux/ffi/libc.ts";
import type { Locker } from "../../linux/locker.ts";
import { trace } from "../../libcni/trace.ts";
import { openLockFile } from "../../net/state-file.ts";

/** The last call of this process to ask for each path's lock: the next one waits for it. */
const queues = new Map<string, Promise<unknown>>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** flock(LOCK_EX) without blocking the thread: retries after 1, 2, 4 ... 16 ms while another process holds it. */
async function lockFile(fd: number): Promise<void> {
  for (let wait = 1; ; wait = Math.min(wait * 2, 16)) {
    try {
      flock(fd, LOCK_EX | LOCK_NB);
      return;
    } catch (e) {
      if (!(e instanceof SyscallError && e.errno === Errno.EAGAIN)) throw e;
    }
    await sleep(wait);
  }
}

async function locked<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
  const fd = openLockFile(path, 0o750);
  try {
    trace("host-local: lock wait");
    await lockFile(fd);
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
}

export const flockLocker: Locker = {
  withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
    const before = queues.get(path) ?? Promise.resolve();
    const mine = before.then(
      () => locked(path, fn),
      () => locked(path, fn),
    );
    queues.set(path, mine);
    const forget = (): void => {
      if (queues.get(path) === mine) queues.delete(path);
    };
    mine.then(forget, forget);
    return mine;
  },
};
