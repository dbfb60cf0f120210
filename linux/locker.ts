/**
 * `Locker`: exclusive, per-path locks held while a callback runs. The kernel implementation
 * (`FileLocker`, flock on an fd) is in flock.ts; this module has no FFI so unit-tested code can
 * depend on the interface and use `MemoryLocker`.
 */

export interface Locker {
  /** Run `fn` holding the exclusive lock on `path`; the lock is released when `fn` settles. */
  withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T>;
}

/** In-process fake: serialises callers per path and records the order locks were taken. */
export class MemoryLocker implements Locker {
  readonly taken: string[] = [];
  private readonly tails = new Map<string, Promise<unknown>>();

  async withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
    const prev = this.tails.get(path) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(path, tail);
    await prev;
    this.taken.push(path);
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(path) === tail) this.tails.delete(path);
    }
  }
}
