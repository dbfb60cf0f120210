/**
 * `Locker`: exclusive, per-path locks held while a callback runs. The kernel implementation lives
 * with its user (host-local's flock-locker.ts, flock through linux/ffi); this module has no FFI so
 * unit-tested code can depend on the interface and pass a fake.
 */

export interface Locker {
  /** Run `fn` holding the exclusive lock on `path`; the lock is released when `fn` settles. */
  withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T>;
}
