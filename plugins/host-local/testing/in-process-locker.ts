import { closeSync, constants, openSync } from "node:fs";
import type { Locker } from "../../../linux/locker.ts";

/**
 * A Locker for one process (unit tests): creates the lock file with the
 * reference's flags like the real one, and serialises callers in this process only.
 */
export class InProcessLocker implements Locker {
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Every path locked, in order (tests check each operation was locked). */
  readonly taken: string[] = [];

  withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
    const prev = this.#queues.get(path) ?? Promise.resolve();
    const run = prev.then(() => {
      closeSync(openSync(path, constants.O_CREAT | constants.O_RDONLY, 0o750));
      this.taken.push(path);
      return fn();
    });
    this.#queues.set(
      path,
      run.catch(() => undefined),
    );
    return run;
  }
}
