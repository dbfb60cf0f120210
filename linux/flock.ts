/**
 * Exclusive flock(2) locks: taken on an fd of the lock file, released when the fd closes, so
 * a crashed holder never leaves a stale lock behind. The sync variant blocks the thread in the
 * kernel; the async one polls with LOCK_NB so other work in this process (including another
 * holder of the same lock) keeps running.
 */
import { closeSync, constants, openSync } from "node:fs";
import { SyscallError } from "./errors.ts";
import * as libc from "./ffi/libc.ts";
import type { Locker } from "./locker.ts";
import type { Sync } from "./netns.ts";

/** Waiting for a lock took longer than allowed; callers map it to CNI code 11 (try again later). */
export class LockTimeoutError extends Error {
  override readonly name = "LockTimeoutError";
  readonly code = "ETIMEDOUT";
  constructor(
    readonly path: string,
    readonly timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for the lock on "${path}"; another process holds it`);
  }
}

/** Options for {@link withFileLock}. */
export interface FileLockOptions {
  /** Give up after this long (LockTimeoutError). @default no limit */
  readonly timeoutMs?: number;
  /** Longest pause between attempts while another process holds the lock. @default 20 */
  readonly maxPollMs?: number;
}

/** Open (creating if needed) the file to lock; directories are opened read-only as they are. Node sets O_CLOEXEC. */
function openLockFile(path: string): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o600);
  } catch (e) {
    if ((e as { code?: unknown }).code === "EISDIR") return openSync(path, constants.O_RDONLY);
    throw e;
  }
}

/** Run a synchronous `fn` holding the exclusive lock; blocks the thread while another holds it. */
export function withFileLockSync<T>(path: string, fn: () => Sync<T>): T {
  const fd = openLockFile(path);
  try {
    libc.flock(fd, libc.LOCK_EX);
    return fn() as T;
  } finally {
    closeSync(fd);
  }
}

function tryLock(fd: number): boolean {
  try {
    libc.flock(fd, libc.LOCK_EX | libc.LOCK_NB);
    return true;
  } catch (e) {
    if (e instanceof SyscallError && e.code === "EAGAIN") return false;
    throw e;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run `fn` (sync or async) holding the exclusive lock on `path`; released when it settles. */
export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const fd = openLockFile(path);
  try {
    const start = Date.now();
    let pause = 1;
    while (!tryLock(fd)) {
      if (opts.timeoutMs !== undefined && Date.now() - start >= opts.timeoutMs) throw new LockTimeoutError(path, opts.timeoutMs);
      await sleep(pause);
      pause = Math.min(pause * 2, opts.maxPollMs ?? 20);
    }
    return await fn();
  } finally {
    closeSync(fd);
  }
}

/** The kernel `Locker`: flock on the given path. */
export class FileLocker implements Locker {
  constructor(private readonly opts: FileLockOptions = {}) {}
  withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
    return withFileLock(path, fn, this.opts);
  }
}
